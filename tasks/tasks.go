// Package tasks runs background jobs that report their progress as events
// on a hub, on topic "tasks/<id>". Because progress lives in the hub's log,
// a client that connects late, reconnects, or reaches another node of the
// same log gets a task's current state by replaying its topic.
package tasks

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"

	"github.com/heraldsse/herald/hub"
)

var (
	// ErrNotFound is returned by Cancel for a task this runner is not
	// running or holding queued.
	ErrNotFound = errors.New("tasks: no such task")

	// ErrTooMany is returned by Start when Options.MaxTasks tasks are
	// already queued or running.
	ErrTooMany = errors.New("tasks: too many tasks")

	// ErrClosed is returned by Start after Close.
	ErrClosed = errors.New("tasks: runner closed")

	// ErrCancelled is the cause given to a task's context when it is
	// cancelled with Cancel.
	ErrCancelled = errors.New("tasks: cancelled")
)

// State is where a task is in its life.
type State string

// A task is queued until a slot is free, then running, then completed,
// failed or cancelled.
const (
	Queued    State = "queued"
	Running   State = "running"
	Completed State = "completed"
	Failed    State = "failed"
	Cancelled State = "cancelled"
)

// Finished reports whether s is a final state.
func (s State) Finished() bool { return s == Completed || s == Failed || s == Cancelled }

// Progress is a task's state as published on its topic, as JSON:
// {"status": "running", "progress": 40}, with "error" for a failed task.
type Progress struct {
	Status   State  `json:"status"`
	Progress int    `json:"progress"`
	Error    string `json:"error,omitempty"`
}

// MarshalJSON spells Progress the way the Flask tutorial's json.dumps does,
// with a space after each colon and comma, so the tutorial's pages and any
// client written for them see the same bytes.
func (p Progress) MarshalJSON() ([]byte, error) {
	b := append([]byte(`{"status": `), strconv.Quote(string(p.Status))...)
	b = append(b, `, "progress": `...)
	b = strconv.AppendInt(b, int64(p.Progress), 10)
	if p.Error != "" {
		msg, err := json.Marshal(p.Error)
		if err != nil {
			return nil, err
		}
		b = append(append(b, `, "error": `...), msg...)
	}
	return append(b, '}'), nil
}

// ParseProgress decodes the data of a progress event.
func ParseProgress(data string) (Progress, error) {
	var p Progress
	if err := json.Unmarshal([]byte(data), &p); err != nil {
		return p, fmt.Errorf("tasks: progress %.64q: %w", data, err)
	}
	return p, nil
}

// Topic returns the hub topic a task's progress is published on.
func Topic(id string) string { return "tasks/" + id }

// ValidID reports whether id could be a task ID: what Start returns is 1
// to 64 ASCII letters and digits. Check it before putting an ID from a
// request into a topic.
func ValidID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// Func is a task's work. It calls report with its progress in percent
// (clamped to 0..100) as it goes, and returns when done: nil for
// completed, an error for failed. It must return soon after ctx ends; that
// is how Cancel and Close stop it.
type Func func(ctx context.Context, report func(percent int)) error

// Options configures a [Runner]. Hub is required; the zero value of every
// other field means its default.
type Options struct {
	// Hub is where progress is published. Required.
	Hub *hub.Hub
	// Concurrency is how many tasks run at once; the others wait, queued.
	// Zero means 4.
	Concurrency int
	// MaxTasks is how many tasks may be queued or running at once; Start
	// fails with ErrTooMany beyond it. Zero means 1,000.
	MaxTasks int
	// Logger receives one line per task that fails or cannot publish its
	// progress. Nil discards them.
	Logger *slog.Logger
}

// Runner runs tasks. Create it with [New] and release it with
// [Runner.Close]. It is safe for concurrent use.
type Runner struct {
	opts  Options
	slots chan struct{}

	mu     sync.Mutex
	tasks  map[string]context.CancelCauseFunc
	closed bool
	wg     sync.WaitGroup
}

// New returns a runner publishing on opts.Hub.
func New(opts Options) (*Runner, error) {
	if opts.Hub == nil {
		return nil, errors.New("tasks: Options.Hub is nil")
	}
	if opts.Concurrency <= 0 {
		opts.Concurrency = 4
	}
	if opts.MaxTasks <= 0 {
		opts.MaxTasks = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{
		opts:  opts,
		slots: make(chan struct{}, opts.Concurrency),
		tasks: make(map[string]context.CancelCauseFunc),
	}, nil
}

// Start queues fn as a new task and returns its ID once its first state,
// queued at 0 %, is published, so a client may subscribe to its topic at
// once. The task runs when a slot is free. ctx bounds only the start, not
// the task. Errors: [ErrTooMany], [ErrClosed], or the hub's publish error.
func (r *Runner) Start(ctx context.Context, fn Func) (string, error) {
	id := rand.Text()
	taskCtx, cancel := context.WithCancelCause(context.Background())
	r.mu.Lock()
	switch {
	case r.closed:
		r.mu.Unlock()
		cancel(ErrClosed)
		return "", ErrClosed
	case len(r.tasks) >= r.opts.MaxTasks:
		r.mu.Unlock()
		cancel(ErrTooMany)
		return "", fmt.Errorf("%w: %d queued or running", ErrTooMany, r.opts.MaxTasks)
	}
	r.tasks[id] = cancel
	r.mu.Unlock()

	if err := r.publish(ctx, id, Progress{Status: Queued}); err != nil {
		r.forget(id)
		cancel(err)
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed { // Close ran meanwhile and did not see this task run
		delete(r.tasks, id)
		cancel(ErrClosed)
		r.publishFinal(id, Progress{Status: Cancelled, Error: ErrClosed.Error()})
		return "", ErrClosed
	}
	r.wg.Go(func() { r.run(taskCtx, id, fn) })
	return id, nil
}

func (r *Runner) run(ctx context.Context, id string, fn Func) {
	defer r.forget(id)
	select {
	case r.slots <- struct{}{}:
		defer func() { <-r.slots }()
	case <-ctx.Done():
		r.publishFinal(id, Progress{Status: Cancelled})
		return
	}
	last := 0
	_ = r.publish(ctx, id, Progress{Status: Running})
	report := func(percent int) {
		percent = min(max(percent, 0), 100)
		if percent == last || ctx.Err() != nil {
			return
		}
		last = percent
		_ = r.publish(ctx, id, Progress{Status: Running, Progress: percent})
	}
	err := fn(ctx, report)
	switch {
	case ctx.Err() != nil:
		r.publishFinal(id, Progress{Status: Cancelled, Progress: last})
	case err != nil:
		r.opts.Logger.Warn("task failed", "task", id, "err", err)
		r.publishFinal(id, Progress{Status: Failed, Progress: last, Error: err.Error()})
	default:
		r.publishFinal(id, Progress{Status: Completed, Progress: 100})
	}
}

func (r *Runner) publish(ctx context.Context, id string, p Progress) error {
	data, _ := p.MarshalJSON()
	_, err := r.opts.Hub.Publish(ctx, hub.Message{Topic: Topic(id), Data: string(data)})
	if err != nil {
		r.opts.Logger.Warn("task progress not published", "task", id, "status", p.Status, "err", err)
	}
	return err
}

// publishFinal publishes a final state even when the task's own context
// has ended.
func (r *Runner) publishFinal(id string, p Progress) {
	_ = r.publish(context.Background(), id, p)
}

func (r *Runner) forget(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if cancel, ok := r.tasks[id]; ok {
		cancel(nil)
		delete(r.tasks, id)
	}
}

// Cancel stops a queued or running task: its context ends with cause
// [ErrCancelled] and, once it returns, it is published as cancelled. It
// returns [ErrNotFound] for a task this runner does not hold (finished,
// unknown, or run by another node).
func (r *Runner) Cancel(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	cancel, ok := r.tasks[id]
	if !ok {
		return fmt.Errorf("%w: %.64q", ErrNotFound, id)
	}
	cancel(ErrCancelled)
	return nil
}

// Running returns how many tasks are queued or running.
func (r *Runner) Running() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.tasks)
}

// Close cancels every task, waits until each has returned and published
// its final state, and makes Start fail with [ErrClosed]. It returns ctx's
// error if ctx ends first. Close the runner before the hub it publishes on.
func (r *Runner) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	for _, cancel := range r.tasks {
		cancel(ErrClosed)
	}
	r.mu.Unlock()
	done := make(chan struct{})
	go func() { r.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("tasks: close: %w", ctx.Err())
	}
}
