package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/openapi"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/server"
)

// serveHelp is the paragraph of "herald serve -h".
const serveHelp = `Serve the hub's HTTP API and the apps of the Flask SSE tutorial on one address.

The API: GET /events?topic=T subscribes (resume with Last-Event-ID or
?lastEventId=), POST /events publishes, GET /presence?topic=T lists who is
subscribed (--presence; joins and leaves are events on presence/<topic>),
GET /healthz and /readyz report health,
with --mercure-key (or --mercure-public-key) /.well-known/mercure is a Mercure
hub on the same history (docs/mercure.md),
GET /metrics serves Prometheus metrics, and GET /openapi.json describes every
route (OpenAPI 3.1). With --tls-cert and --tls-key it serves HTTPS, HTTP/2
included. Every request gets an X-Request-ID (a sane incoming one
is kept) that its log lines carry as request_id.
The apps: the index at /, their pages under /apps/, and the streams /stream,
/advanced-stream, /stream-with-id, POST /start-task and /task-progress/{task_id}.

On SIGINT or SIGTERM it stops accepting connections, cancels running tasks,
sends every hub stream its pending events and a jittered retry hint, and exits
within --shutdown-timeout. Sizes, counts and durations must not be negative;
zero means the default.`

// serveConfig is what the serve command's flags set.
type serveConfig struct {
	addr            string
	history         historyConfig
	hub             hub.Options
	server          server.Options
	apps            apps.Options
	shutdownTimeout time.Duration
	logLevel        slog.Level
	logFormat       string
	auth            authConfig
	// presence is --presence: keep and serve presence.
	presence bool
	// presenceTimings are the test knob of a Redis registry's liveness.
	presenceTimings presenceTimings
	mercure         mercureConfig

	readHeaderTimeout time.Duration
	idleTimeout       time.Duration
	tlsCert, tlsKey   string
	// tls is the HTTPS configuration --tls-cert and --tls-key load; nil
	// serves plain HTTP.
	tls *tls.Config
}

// serveGroups orders "herald serve -h": one heading per part of the server.
var serveGroups = []flagGroup{
	{"Server", []string{"addr", "shutdown-timeout", "write-timeout", "publish-timeout", "read-header-timeout", "idle-timeout", "log-level", "log-format"}},
	{"TLS and HTTP/2", []string{"tls-cert", "tls-key"}},
	{"History (replay after reconnect)", []string{"store", "redis-stream", "history", "history-size", "history-age"}},
	{"Streams", []string{"queue-size", "heartbeat", "retry", "presence"}},
	{"Limits", []string{"max-subscribers", "max-subscribers-per-client", "max-topics", "max-body", "max-data"}},
	{"Auth and CORS", authFlagNames},
	{"Mercure hub", mercureFlagNames},
	{"Tutorial apps", []string{"stream-interval", "advanced-interval", "id-interval", "task-step", "task-concurrency", "max-tasks"}},
}

// serveFlags defines the serve command's flags on a new FlagSet that fills
// cfg.
func serveFlags(cfg *serveConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.addr, "addr", ":8080", "`address` to listen on, host:port")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGINT or SIGTERM, the deadline for closing every stream and finishing every request; past it, connections are cut")
	fs.DurationVar(&cfg.server.WriteTimeout, "write-timeout", 10*time.Second, "the longest a write to a hub stream may take before the client is dropped")
	fs.DurationVar(&cfg.server.PublishTimeout, "publish-timeout", 5*time.Second, "the longest a publish may wait for the store, or for dispatch to catch up when publishers outrun it; then 503 (with Retry-After when dispatch is behind)")
	fs.DurationVar(&cfg.readHeaderTimeout, "read-header-timeout", 10*time.Second, "the longest a client may take to send a request's headers; past it, the connection is closed")
	fs.DurationVar(&cfg.idleTimeout, "idle-timeout", 2*time.Minute, "how long a keep-alive connection may wait, idle, for its next request")
	fs.TextVar(&cfg.logLevel, "log-level", slog.LevelInfo, "least `level` logged: debug, info, warn or error")
	fs.StringVar(&cfg.logFormat, "log-format", "text", "log line `format`: text (key=value) or json")
	fs.StringVar(&cfg.tlsCert, "tls-cert", "", "PEM `file` of the certificate chain; with --tls-key, serve HTTPS and HTTP/2")
	fs.StringVar(&cfg.tlsKey, "tls-key", "", "PEM `file` of the private key of --tls-cert")

	historyFlags(fs, &cfg.history)

	fs.IntVar(&cfg.hub.QueueSize, "queue-size", 1000, "events a subscriber may have pending before it is disconnected as too slow")
	fs.DurationVar(&cfg.server.Heartbeat, "heartbeat", 15*time.Second, "time between two heartbeat comments on every hub stream")
	fs.DurationVar(&cfg.hub.Retry, "retry", 3*time.Second, "reconnection time sent to clients; on shutdown each gets it plus a random jitter of up to as much again")
	fs.BoolVar(&cfg.presence, "presence", true, "record who is subscribed (every GET /events stream and Mercure subscription), announce joins and leaves on presence/<topic> and serve GET /presence, and Mercure's subscription events and API; with a redis:// store, for the whole cluster; its events keep a history of their own, presence/**=1000/10m, unless a --history pattern covers presence/** (docs/presence.md)")

	fs.IntVar(&cfg.server.MaxSubscribers, "max-subscribers", 10_000, "hub streams open at once; more answer 429")
	fs.IntVar(&cfg.server.MaxSubscribersPerClient, "max-subscribers-per-client", 100, "hub streams open at once from one client address; more answer 429")
	fs.IntVar(&cfg.hub.MaxTopics, "max-topics", 32, "topics one subscription may name; more answer 400")
	fs.Int64Var(&cfg.server.MaxBodyBytes, "max-body", 1<<20, "largest publish request body, in `bytes`; larger answer 413")
	fs.IntVar(&cfg.hub.MaxDataSize, "max-data", 256<<10, "largest event data, in `bytes`; larger answer 413")

	fs.DurationVar(&cfg.apps.StreamInterval, "stream-interval", apps.DefaultStreamInterval, "time between two events of GET /stream")
	fs.DurationVar(&cfg.apps.AdvancedInterval, "advanced-interval", apps.DefaultAdvancedInterval, "time between two events of GET /advanced-stream")
	fs.DurationVar(&cfg.apps.IDInterval, "id-interval", apps.DefaultIDInterval, "time between two events of GET /stream-with-id")
	fs.DurationVar(&cfg.apps.TaskStep, "task-step", apps.DefaultTaskStep, "`duration` of each of a task's ten 10% steps")
	fs.IntVar(&cfg.apps.TaskConcurrency, "task-concurrency", apps.DefaultTaskConcurrency, "tasks running at once; the others wait, queued")
	fs.IntVar(&cfg.apps.MaxTasks, "max-tasks", apps.DefaultMaxTasks, "tasks queued or running at once; more answer 503")
	authFlags(fs, &cfg.auth)
	mercureFlags(fs, &cfg.mercure)
	return fs
}

// resolveAuth sets cfg.server's Auth, CORS and Mercure options from the
// auth, CORS and Mercure flags.
func (cfg *serveConfig) resolveAuth() (err error) {
	if cfg.server.Auth, cfg.server.CORS, err = cfg.auth.options(); err != nil {
		return err
	}
	cfg.server.Mercure, err = cfg.mercure.options(cfg.auth.corsOrigin, cfg.hub.MaxTopics)
	return err
}

// runServe is the serve command: it serves the API and the apps on --addr
// until ctx ends, then shuts down within --shutdown-timeout.
func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg serveConfig
	fs := serveFlags(&cfg)
	h := help{text: serveHelp, groups: serveGroups}
	if err := parseFlags(fs, h, args, os.LookupEnv, stdout, stderr); err != nil {
		return helpShown(err)
	}
	if cfg.shutdownTimeout == 0 {
		return usageError(stderr, fs, h, errors.New("--shutdown-timeout (or HERALD_SHUTDOWN_TIMEOUT) must be positive"))
	}
	if err := cfg.history.check(); err != nil {
		return usageError(stderr, fs, h, err)
	}
	if (cfg.tlsCert == "") != (cfg.tlsKey == "") {
		return usageError(stderr, fs, h, errors.New("--tls-cert and --tls-key (or HERALD_TLS_CERT and HERALD_TLS_KEY) go together: give both or neither"))
	}
	logger, err := newLogger(stderr, cfg.logFormat, cfg.logLevel)
	if err != nil {
		return usageError(stderr, fs, h, err)
	}
	if err = cfg.resolveAuth(); err != nil {
		return usageError(stderr, fs, h, err)
	}
	if cfg.tls, err = loadTLS(cfg.tlsCert, cfg.tlsKey); err != nil {
		return err
	}
	logAuth(logger, cfg.server.Auth)
	logMercure(logger, cfg.server.Mercure)

	n, err := newNode(ctx, cfg, logger)
	if err != nil {
		return err
	}
	ln, err := new(net.ListenConfig).Listen(ctx, "tcp", cfg.addr)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), cfg.shutdownTimeout)
		defer cancel()
		return errors.Join(err, n.close(cctx))
	}
	return serve(ctx, ln, n, cfg, logger)
}

// newLogger returns a logger writing to w in format, "text" or "json",
// lines of level and above.
func newLogger(w io.Writer, format string, level slog.Level) (*slog.Logger, error) {
	opts := &slog.HandlerOptions{Level: level}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format (or HERALD_LOG_FORMAT) must be text or json, got %q", format)
}

// loadTLS returns the TLS configuration serving the certificate chain in
// the PEM file certFile with the key in keyFile: TLS 1.2 at least, HTTP/2
// offered before HTTP/1.1. With no files it returns nil, for plain HTTP.
func loadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: load %s and %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		NextProtos:   []string{"h2", "http/1.1"},
	}, nil
}

// node is what herald serve runs: one hub on the history --store names,
// the hub's HTTP API, and the tutorial's apps on the same hub.
type node struct {
	history  history
	presence presence.Registry // nil with --presence=false
	hub      *hub.Hub
	api      *server.Server
	apps     *apps.Apps
}

// newNode builds a node from cfg.
func newNode(ctx context.Context, cfg serveConfig, logger *slog.Logger) (*node, error) {
	cfg.history.presence = cfg.presence
	h, err := cfg.history.open(ctx, logger)
	if err != nil {
		return nil, err
	}
	var reg presence.Registry
	if cfg.presence {
		if reg, err = cfg.history.openPresence(ctx, cfg.presenceTimings, logger); err != nil {
			_ = h.Close()
			return nil, fmt.Errorf("presence: %w", err)
		}
	}
	return newNodeOn(h, reg, cfg, logger)
}

// newNodeOn builds a node from cfg on the history h and the presence
// registry reg (nil for none), which it closes if it fails.
func newNodeOn(h history, reg presence.Registry, cfg serveConfig, logger *slog.Logger) (*node, error) {
	var err error
	n := &node{history: h, presence: reg}
	hopts := cfg.hub
	hopts.Log, hopts.Logger = n.history, logger
	if reg != nil {
		hopts.Presence = reg
		hopts.PresenceEvents, err = server.PresenceEventsFor(cfg.server)
	}
	if err == nil {
		n.hub, err = hub.New(hopts)
	}
	if err != nil {
		_ = n.closePresence(context.Background())
		_ = n.history.Close()
		return nil, err
	}
	sopts := cfg.server
	sopts.Hub, sopts.Logger = n.hub, logger
	n.api, err = server.New(sopts)
	if err == nil {
		aopts := cfg.apps
		aopts.Hub, aopts.Logger = n.hub, logger
		n.apps, err = apps.New(aopts)
	}
	if err != nil {
		_ = n.hub.Close(context.Background())
		if n.api != nil {
			_ = n.api.Close(context.Background())
		}
		_ = n.closePresence(context.Background())
		_ = n.history.Close()
		return nil, err
	}
	return n, nil
}

// closePresence closes the presence registry, if any: on Redis, the node's
// records go at once, without waiting to expire.
func (n *node) closePresence(ctx context.Context) error {
	if n.presence == nil {
		return nil
	}
	if err := n.presence.Close(ctx); err != nil {
		return fmt.Errorf("presence: close: %w", err)
	}
	return nil
}

// handler routes the API's paths (/events, /healthz, /readyz, /metrics) to the API,
// /openapi.json to the description of them all (package openapi), and every other
// path to the apps. Register every route through the routeMux it returns: the
// OpenAPI test reads its patterns to check that each route is described.
func (n *node) handler() *routeMux {
	mux := &routeMux{ServeMux: http.NewServeMux()}
	for _, p := range n.api.Routes() {
		mux.Handle(p, n.api)
	}
	mux.Handle(openapi.Path, openapi.Handler())
	mux.Handle("/", n.apps.Handler())
	return mux
}

// routeMux is a ServeMux that keeps the patterns registered on it.
type routeMux struct {
	*http.ServeMux
	patterns []string
}

// Handle registers h for pattern, as [net/http.ServeMux.Handle] does.
func (m *routeMux) Handle(pattern string, h http.Handler) {
	m.ServeMux.Handle(pattern, h)
	m.patterns = append(m.patterns, pattern)
}

// close shuts the node down in order: the apps, whose runner cancels every
// task and publishes its final state; then the hub, which finishes the
// publishes in flight and ends every subscription, each stream's last words
// being its pending events and a jittered retry hint; then the API, which
// waits for those last words to be written; then the presence registry, after
// the hub published every leave, and the history.
func (n *node) close(ctx context.Context) error {
	err := n.apps.Close(ctx)
	if herr := n.hub.Close(ctx); herr != nil {
		err = errors.Join(err, fmt.Errorf("hub: close: %w", herr))
	}
	if aerr := n.api.Close(ctx); aerr != nil {
		err = errors.Join(err, fmt.Errorf("streams: close: %w", aerr))
	}
	err = errors.Join(err, n.closePresence(ctx))
	return errors.Join(err, n.history.Close())
}

// serve serves n on ln, over TLS (and HTTP/2) when cfg.tls is set, until
// ctx ends. Then, within cfg.shutdownTimeout, it stops accepting
// connections, closes the node (which ends every stream, hub streams with a
// retry hint), and waits for every request to finish. It logs one line per
// shutdown step.
func serve(ctx context.Context, ln net.Listener, n *node, cfg serveConfig, logger *slog.Logger) error {
	timeout := cfg.shutdownTimeout
	if cfg.readHeaderTimeout == 0 {
		cfg.readHeaderTimeout = 10 * time.Second
	}
	if cfg.idleTimeout == 0 {
		cfg.idleTimeout = 2 * time.Minute
	}
	// Requests' contexts derive from base, cancelled only once shutdown is
	// over: a hub stream must be told to come back later before its
	// request ends, and the node's close does that.
	base, cancelBase := context.WithCancel(context.Background())
	defer cancelBase()
	// A client that never finishes its headers is cut after
	// ReadHeaderTimeout, an idle keep-alive connection after IdleTimeout.
	// ReadTimeout stays zero: on HTTP/1.1 its deadline outlives the
	// headers and would end every stream once it passed. Writes to hub
	// streams are bounded per write by --write-timeout instead of
	// WriteTimeout, which would cut every stream after a fixed time.
	srv := &http.Server{
		Handler:           server.RequestID(n.handler(), logger),
		ReadHeaderTimeout: cfg.readHeaderTimeout,
		IdleTimeout:       cfg.idleTimeout,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         cfg.tls,
		BaseContext:       func(net.Listener) context.Context { return base },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}

	// Shutdown calls this once it has closed the listeners.
	notAccepting := make(chan struct{})
	srv.RegisterOnShutdown(func() { close(notAccepting) })

	served := make(chan error, 1)
	go func() {
		if cfg.tls != nil {
			// ServeTLS negotiates HTTP/2 (ALPN "h2") or HTTP/1.1.
			served <- srv.ServeTLS(ln, "", "")
			return
		}
		served <- srv.Serve(ln)
	}()
	logger.Info("herald serving", "addr", ln.Addr().String(), "url", browseURL(ln.Addr(), cfg.tls != nil), "tls", cfg.tls != nil)

	select {
	case err := <-served: // failed before any shutdown
		cctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		return errors.Join(err, n.close(cctx))
	case <-ctx.Done():
	}
	logger.Info("herald shutting down", "timeout", timeout)
	sctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.Shutdown(sctx) }()
	n.api.Drain()
	<-notAccepting
	logger.Info("shutdown: listener closed; ending streams and tasks")
	err := n.close(sctx)
	if err != nil {
		logger.Warn("shutdown: closing the node failed", "err", err)
	} else {
		logger.Info("shutdown: streams and tasks ended, history closed")
	}
	if serr := <-shutdown; serr != nil {
		logger.Warn("shutdown timed out; closing connections", "err", serr)
		_ = srv.Close()
		err = errors.Join(err, serr)
	}
	cancelBase()
	if serr := <-served; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	if err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	logger.Info("herald stopped")
	return nil
}

// browseURL returns the URL a person on this machine opens to reach addr,
// https if secure: an unspecified host (":8080", "[::]:8080") becomes
// localhost.
func browseURL(addr net.Addr, secure bool) string {
	scheme := "http://"
	if secure {
		scheme = "https://"
	}
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return scheme + addr.String()
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "localhost"
	}
	return scheme + net.JoinHostPort(host, port)
}
