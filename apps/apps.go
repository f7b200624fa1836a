package apps

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/js"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/tasks"
)

// Default values for the [Options] fields left zero.
const (
	DefaultStreamInterval   = time.Second
	DefaultAdvancedInterval = 2 * time.Second
	DefaultIDInterval       = time.Second
	DefaultTaskStep         = time.Second
	DefaultTaskConcurrency  = 4
	DefaultMaxTasks         = 1000
	DefaultStockInterval    = time.Second
	DefaultSequenceInterval = time.Second
)

// Options configures [Apps]. Hub is required; every other field's zero value
// gives its default, the tutorial's timings.
type Options struct {
	// Hub carries the task monitor: each task's progress is published on
	// its topic (see tasks.Topic), and GET /task-progress/{task_id}
	// subscribes to it, so a finished task's final state lasts as long as
	// the hub's history keeps it. Required. The apps do not close it: close
	// the apps first, then the hub.
	Hub *hub.Hub

	// StreamInterval is the time between two events of GET /stream.
	// Zero means 1 s.
	StreamInterval time.Duration

	// AdvancedInterval is the time between two events of
	// GET /advanced-stream. Zero means 2 s.
	AdvancedInterval time.Duration

	// IDInterval is the time between two events of GET /stream-with-id.
	// Zero means 1 s.
	IDInterval time.Duration

	// TaskStep is how long each of a task's ten steps of 10 % takes, so a
	// task runs for ten times TaskStep. Zero means 1 s.
	TaskStep time.Duration

	// TaskConcurrency is how many tasks run at once; the others wait,
	// queued, for a free slot. Zero means 4.
	TaskConcurrency int

	// MaxTasks bounds the tasks queued or running at once; starting one
	// more answers 503. Finished tasks do not count. Zero means 1000.
	MaxTasks int

	// StockSeed seeds the stock ticker's simulated market: the same seed
	// gives the same prices. Zero means a random seed.
	StockSeed uint64

	// StockInterval is the time between two ticks of the stock ticker,
	// each publishing one event per symbol. Zero means 1 s.
	StockInterval time.Duration

	// MetricsInterval is the time between two samples of the system
	// metrics dashboard, published on MetricsTopic. Zero means 1 s.
	MetricsInterval time.Duration

	// SequenceInterval is the time between two events of the sequence the
	// reconnection demo publishes on SequenceTopic. Zero means 1 s.
	SequenceInterval time.Duration

	// Logger receives operational messages. Nil discards them.
	Logger *slog.Logger
}

// withDefaults returns o with every zero field set to its default, or an
// error wrapping [ErrInvalidOptions].
func (o Options) withDefaults() (Options, error) {
	err := orDefault(
		setting[time.Duration]{"StreamInterval", &o.StreamInterval, DefaultStreamInterval},
		setting[time.Duration]{"AdvancedInterval", &o.AdvancedInterval, DefaultAdvancedInterval},
		setting[time.Duration]{"IDInterval", &o.IDInterval, DefaultIDInterval},
		setting[time.Duration]{"TaskStep", &o.TaskStep, DefaultTaskStep},
		setting[time.Duration]{"StockInterval", &o.StockInterval, DefaultStockInterval},
		setting[time.Duration]{"MetricsInterval", &o.MetricsInterval, DefaultMetricsInterval},
		setting[time.Duration]{"SequenceInterval", &o.SequenceInterval, DefaultSequenceInterval},
	)
	if err == nil {
		err = orDefault(
			setting[int]{"TaskConcurrency", &o.TaskConcurrency, DefaultTaskConcurrency},
			setting[int]{"MaxTasks", &o.MaxTasks, DefaultMaxTasks},
		)
	}
	if err != nil {
		return o, err
	}
	if o.Hub == nil {
		return o, fmt.Errorf("%w: Hub is nil", ErrInvalidOptions)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// setting is one numeric field of [Options]: its name, where it is, and its
// default.
type setting[T int | time.Duration] struct {
	name string
	v    *T
	def  T
}

// orDefault sets each zero setting to its default, and refuses a negative
// one with an error wrapping [ErrInvalidOptions].
func orDefault[T int | time.Duration](settings ...setting[T]) error {
	for _, s := range settings {
		switch {
		case *s.v < 0:
			return fmt.Errorf("%w: %s is negative (%v)", ErrInvalidOptions, s.name, *s.v)
		case *s.v == 0:
			*s.v = s.def
		}
	}
	return nil
}

// Apps serves the tutorial's apps. Create it with [New] (the zero value is
// not usable), serve [Apps.Handler], and release it with [Apps.Close]. Its
// methods are safe for concurrent use.
type Apps struct {
	opts   Options
	log    *slog.Logger
	mux    *routeMux
	hub    *hub.Hub
	runner *tasks.Runner
	stocks stocks // the stock ticker's simulator (stocks.go)

	metrics *metricsRunner // the system metrics sampler (metrics.go)
	seq     *sequence      // the reconnection demo's sequence (reconnect.go)

	mu      sync.Mutex
	closed  bool
	done    chan struct{}  // closed by Close: the counting streams end
	streams sync.WaitGroup // open counting streams
}

// New returns the apps configured by opts. It fails with an error wrapping
// [ErrInvalidOptions] when opts.Hub is nil or a field is out of range, such
// as a negative interval. It starts the stock ticker's simulator, the
// metrics sampler and the reconnection demo's sequence, one goroutine each,
// that Close stops; the task runner
// it owns runs each task started with POST /start-task in one, until the
// task finishes or Close is called.
func New(opts Options) (*Apps, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	pages, err := renderPages()
	if err != nil {
		return nil, err
	}
	runner, err := tasks.New(tasks.Options{
		Hub:         opts.Hub,
		Concurrency: opts.TaskConcurrency,
		MaxTasks:    opts.MaxTasks,
		Logger:      opts.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidOptions, err)
	}
	a := &Apps{
		opts:   opts,
		log:    opts.Logger,
		hub:    opts.Hub,
		runner: runner,
		done:   make(chan struct{}),
	}
	a.mux = a.routes(pages)
	a.startStocks()
	a.metrics = a.startMetrics()
	a.seq = a.startSequence()
	return a, nil
}

// routes registers every route of the apps, as the tutorial gives them (docs/tutorial-apps.md), and
// the rendered pages by path.
func (a *Apps) routes(pages map[string][]byte) *routeMux {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	for path, body := range pages {
		mux.HandleFunc("GET "+path, pageHandler(body))
	}
	mux.HandleFunc("GET /static/", serveStatic)
	// The pages' scripts import herald.js, the hub's client, from here.
	mux.Handle("GET /herald.js", js.Handler())
	mux.HandleFunc("GET /stream", a.counterStream)
	mux.HandleFunc("GET /advanced-stream", a.namedEventStream)
	mux.HandleFunc("GET /stream-with-id", a.idStream)
	mux.HandleFunc("POST /start-task", a.startTask)
	mux.HandleFunc("GET /task-progress/{task_id}", a.taskProgress)
	a.routeChat(mux)
	a.routeStocks(mux)
	a.routeMetrics(mux)
	a.routeTaskBoard(mux)
	a.routeReconnect(mux)
	return mux
}

// Routes returns the pattern of every route [Apps.Handler] serves, as
// registered on its [net/http.ServeMux], sorted: "GET /stream",
// "GET /task-progress/{task_id}", "GET /{$}" (the index), "GET /static/"
// (every file under it), ... A pattern with a method also answers HEAD for
// GET, and 405 for the other methods. Herald's OpenAPI test reads them to
// check that every route is described.
func (a *Apps) Routes() []string {
	return slices.Sorted(slices.Values(a.mux.patterns))
}

// routeMux is the apps' ServeMux, which keeps the patterns registered on
// it for [Apps.Routes]: every route is registered through it.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern, as [net/http.ServeMux.Handle] does.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// HandleFunc registers h for pattern, as [net/http.ServeMux.HandleFunc]
// does.
func (m *routeMux) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	m.Handle(pattern, http.HandlerFunc(h))
}

// Handler returns the handler that serves every route of the apps. Requests
// that match no route get a JSON error: 404 for an unknown path, 405 with an
// Allow header for a known path with the wrong method.
func (a *Apps) Handler() http.Handler { return http.HandlerFunc(a.serveHTTP) }

func (a *Apps) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if h, pattern := a.mux.Handler(r); pattern == "" {
		// No route: net/http's own 404, 405 or redirect, with a JSON body.
		h.ServeHTTP(&jsonErrorWriter{ResponseWriter: w, r: r}, r)
		return
	}
	a.mux.ServeHTTP(w, r)
}

// Close shuts the apps down and waits until they have stopped, or returns an
// error wrapping ctx.Err() if ctx ends first. It ends the counting streams
// (/stream, /advanced-stream, /stream-with-id), stops the stock ticker's
// simulator, the metrics sampler and the reconnection demo's sequence
// (whose streams end with an error event), and closes the task runner: every
// queued or running task is cancelled and publishes its final state,
// cancelled, on the hub, which ends the progress streams that follow it. A
// progress stream is a hub subscription, so it also ends when the hub
// closes; Close does not wait for those. From then on the streams and POST
// /start-task answer 503; the pages are still served. Close is safe to call
// more than once.
func (a *Apps) Close(ctx context.Context) error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.done)
	}
	a.mu.Unlock()

	err := a.runner.Close(ctx)
	if serr := a.stopStocks(ctx); serr != nil && err == nil {
		err = fmt.Errorf("apps: close: stock ticker: %w", serr)
	}
	if merr := a.metrics.close(ctx); merr != nil && err == nil {
		err = merr
	}
	if qerr := a.seq.close(ctx); qerr != nil && err == nil {
		err = qerr
	}
	// The waiter ends with the last stream it waits for, even when ctx
	// ends first; a.done makes that soon.
	if werr := waitGroup(ctx, &a.streams); werr != nil && err == nil {
		err = fmt.Errorf("apps: close: %w", werr)
	}
	return err
}

// isClosed reports whether Close has been called.
func (a *Apps) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// refuseClosed answers 503 and reports true once Close has begun.
func (a *Apps) refuseClosed(w http.ResponseWriter) bool {
	if a.isClosed() {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return true
	}
	return false
}

// serveStream opens an event stream for r and runs body on it, unless the
// apps are closed (503). body must return once st.Done or a.done is closed.
// A HEAD request gets the stream's headers and no body.
func (a *Apps) serveStream(w http.ResponseWriter, r *http.Request, body func(st *sse.Stream)) {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	a.streams.Add(1)
	a.mu.Unlock()
	defer a.streams.Done()

	st := a.openStream(w, r)
	if st == nil {
		return
	}
	defer st.Close()
	body(st)
}

// openStream opens the event stream that answers r, or returns nil when
// there is nothing to stream: it could not be opened (the reason is
// logged), or r is a HEAD request, which gets the stream's headers alone.
// The caller closes the stream it gets.
func (a *Apps) openStream(w http.ResponseWriter, r *http.Request) *sse.Stream {
	st, err := sse.Open(w, r, sse.Options{})
	if err != nil {
		a.log.Debug("stream not opened", "path", r.URL.Path, "remote", r.RemoteAddr, "err", err)
		return nil
	}
	if r.Method == http.MethodHead {
		st.Close()
		return nil
	}
	return st
}

// waitGroup waits for wg, or returns ctx's error when ctx ends first; the
// goroutine waiting for wg then ends with wg.
func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		wg.Wait()
	}()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-done:
		return nil
	}
}
