package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/conn"
	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/sse"
)

// Options configures a [Server]. Hub is required; every other field's zero
// value means its default.
type Options struct {
	// Hub is the hub the API serves. Required.
	Hub *hub.Hub
	// MaxBodyBytes is the largest publish request body. Zero means 1 MiB.
	MaxBodyBytes int64
	// MaxSubscribers is how many streams may be open at once. Zero means
	// 10,000.
	MaxSubscribers int
	// MaxSubscribersPerClient is how many streams one client address may
	// hold open at once. Zero means 100.
	MaxSubscribersPerClient int
	// WriteTimeout bounds each write to a stream: a client that has not
	// taken a write within it is cut off as too slow. Zero means 10 s.
	WriteTimeout time.Duration
	// PublishTimeout bounds how long a publish may take: a log that does
	// not answer, or that pushes back because dispatch is behind
	// (hub.ErrBusy), is answered 503 after it, with Retry-After for the
	// latter. Zero means 5 s.
	PublishTimeout time.Duration
	// Heartbeat is how often a stream that carried nothing gets a comment,
	// so proxies keep idle streams open and dead clients are found. Zero
	// means 15 s; negative disables heartbeats.
	Heartbeat time.Duration
	// Logger receives one line per failed request and per stream that ends
	// abnormally. Nil discards them. Tokens are never logged. A request
	// that came through [RequestID] is logged through the logger in its
	// context instead, so its lines carry its request_id.
	Logger *slog.Logger
	// Auth turns on JWT authentication: subscribing needs a token except to
	// its anonymous patterns, and publishing always needs one. Nil means
	// auth is off: anyone may publish and subscribe.
	Auth *AuthOptions
	// CORS lists the origins whose browsers may call the API. The zero
	// value allows none: browsers get no CORS headers.
	CORS CORSOptions
	// Mercure, when set, serves the Mercure protocol on the same hub: its
	// hub URL's path (/.well-known/mercure by default) and its protected
	// resource metadata (docs/mercure.md). Its Hub is the server's, set by
	// New. Nil means no Mercure endpoint.
	Mercure *mercure.Options
}

// Server serves the hub's HTTP API. It is an [http.Handler]; mount it at
// the root of a mux or server. It is safe for concurrent use.
type Server struct {
	opts    Options
	mux     *http.ServeMux
	handler http.Handler // mux behind CORS, and /metrics beside it
	auth    *auth        // nil when auth is off
	cors    *cors
	metrics *metrics
	engine  *conn.Engine     // writes every stream
	mercure *mercure.Handler // nil when Options.Mercure is

	draining atomic.Bool // set by Drain: /readyz answers 503

	mu       sync.Mutex
	open     int
	byClient map[string]int
}

// New returns a Server for opts.Hub and starts the goroutines that write
// its streams; release them with [Server.Close].
func New(opts Options) (*Server, error) {
	if opts.Hub == nil {
		return nil, errors.New("server: Options.Hub is nil")
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.MaxSubscribers <= 0 {
		opts.MaxSubscribers = 10_000
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = 5 * time.Second
	}
	if opts.MaxSubscribersPerClient <= 0 {
		opts.MaxSubscribersPerClient = 100
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, mux: http.NewServeMux(), byClient: make(map[string]int)}
	if opts.Auth != nil {
		a, err := newAuth(*opts.Auth)
		if err != nil {
			return nil, err
		}
		s.auth = a
	}
	// Credentials (cookies) are allowed when tokens may come in them:
	// herald's auth, or Mercure's.
	c, err := newCORS(opts.CORS, opts.Auth != nil || opts.Mercure != nil)
	if err != nil {
		return nil, err
	}
	s.cors = c
	s.engine = conn.New(conn.Options{Heartbeat: opts.Heartbeat, WriteTimeout: opts.WriteTimeout})
	s.mux.HandleFunc(api.EventsPath, s.events)
	s.mux.Handle(api.PresencePath, readOnly(http.HandlerFunc(s.presence)))
	s.mux.Handle("/healthz", readOnly(http.HandlerFunc(s.healthz)))
	s.mux.Handle("/readyz", readOnly(http.HandlerFunc(s.readyz)))
	if opts.Mercure != nil {
		mopts := *opts.Mercure
		mopts.Hub = &mercureHub{s: s}
		if opts.Hub.Presence() != nil {
			mopts.Subscriptions = mercureSubs{s: s, h: opts.Hub}
		}
		if mopts.Logger == nil {
			mopts.Logger = opts.Logger
		}
		if s.mercure, err = mercure.New(mopts); err != nil {
			return nil, fmt.Errorf("server: mercure: %w", err)
		}
		if p := s.mercure.HubURL().Path(); p == "/" || slices.Contains(apiRoutes, p) {
			return nil, fmt.Errorf("server: mercure: the hub URL's path %q is one of herald's own routes; give the hub another", p)
		}
		s.mux.Handle(s.mercure.HubURL().Path(), withClient(s.mercure))
		s.mux.Handle(s.mercure.HubURL().MetadataPath(), s.mercure)
		if mopts.Subscriptions != nil {
			for _, p := range subscriptionRoutes(s.mercure.HubURL()) {
				s.mux.Handle(p, s.mercure)
			}
		}
	}
	s.metrics = newMetrics(s)
	// /metrics is for the operator's scraper, not for browsers: it stays
	// outside the CORS wrapper and needs no token.
	top := http.NewServeMux()
	top.Handle("/", s.cors.wrap(s.mux))
	top.Handle("/metrics", readOnly(s.metrics.handler()))
	s.handler = top
	return s, nil
}

// ServeHTTP routes to the API's endpoints, answering CORS preflights.
// GET /metrics serves Prometheus metrics (see docs/metrics.md) without
// auth or CORS headers.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Handle registers the API's routes on mux, so the API can share a mux
// with other handlers: the patterns of [Server.Routes], each served by s.
func (s *Server) Handle(mux *http.ServeMux) {
	for _, p := range s.Routes() {
		mux.Handle(p, s)
	}
}

// Routes returns the patterns of the paths the API serves, as
// [Server.Handle] registers them: /events, /presence, /healthz, /readyz
// and /metrics, and with Options.Mercure the hub URL's path and its
// metadata's, and with presence the subscription API's three. They name no
// method: /events answers GET, HEAD, POST and OPTIONS, the Mercure hub
// GET, POST and QUERY, the others GET and HEAD,
// and every other method gets 405 with an Allow header. A caller mounting
// the API path by path, or checking a description of it (herald's OpenAPI
// test), reads them here.
func (s *Server) Routes() []string {
	routes := slices.Clone(apiRoutes)
	if s.mercure != nil {
		routes = append(routes, s.mercure.HubURL().Path(), s.mercure.HubURL().MetadataPath())
		if s.opts.Hub.Presence() != nil {
			routes = append(routes, subscriptionRoutes(s.mercure.HubURL())...)
		}
	}
	return routes
}

// Mercure returns the server's Mercure handler, nil without
// Options.Mercure: an application reads its hub URL, or builds the
// rel="mercure" Link its pages send ([mercure.Link]).
func (s *Server) Mercure() *mercure.Handler { return s.mercure }

// apiRoutes are the patterns of the API's own paths.
var apiRoutes = []string{api.EventsPath, api.PresencePath, "/healthz", "/readyz", "/metrics"}

// readOnly answers GET and HEAD with h, and any other method with 405, an
// Allow header and a JSON error.
func readOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; use GET", r.Method, r.URL.Path))
			return
		}
		h.ServeHTTP(w, r)
	})
}

func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		s.subscribe(w, r)
	case http.MethodPost:
		s.publish(w, r)
	case http.MethodOptions:
		w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
		w.WriteHeader(http.StatusNoContent)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on /events; use GET to subscribe or POST to publish", r.Method))
	}
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength > 0 || len(r.TransferEncoding) > 0 {
		writeError(w, http.StatusBadRequest, "a subscribe request (GET) must not have a body")
		return
	}
	q := r.URL.Query()
	topics := q["topic"]
	if len(topics) == 0 {
		writeError(w, http.StatusBadRequest, "missing topic: give one or more ?topic= parameters")
		return
	}
	lastID := sse.LastEventID(r)
	// ?from=start replays the topics' history before the live events: a
	// late subscriber's view of a topic whose history is its state. A
	// Last-Event-ID wins, so that the browser's reconnection with the same
	// URL resumes where it was instead of replaying it all again.
	var fromStart bool
	if from, ok := q["from"]; ok {
		if len(from) != 1 || from[0] != "start" {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("from must be %q (replay the topics' history, then go on live), got %.32q", "start", from))
			return
		}
		fromStart = true
	}
	var claims *Claims
	if s.auth != nil {
		var aerr *authError
		claims, aerr = s.auth.authenticate(r)
		if aerr == nil {
			aerr = s.auth.authorizeSubscribe(claims, topics)
		}
		if aerr != nil {
			s.refuse(w, r, aerr)
			return
		}
	}

	req := hub.SubscribeRequest{Topics: topics, LastEventID: lastID, FromStart: fromStart, MarkReplayed: true}
	if s.opts.Hub.Presence() != nil {
		// Recorded in presence and announced (not for HEAD, which ends at
		// once), and presence events filtered as GET /presence would.
		announce, err := s.announcement(q, claims, topics)
		if err != nil {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		if r.Method != http.MethodHead {
			req.Presence = announce
		}
		req.Filter = presenceFilter(topics)
	}

	client := clientAddr(r)
	if status, msg := s.admit(client); status != 0 {
		writeError(w, status, msg)
		return
	}
	// The stream, not the request, bounds the subscription: a detached
	// stream outlives its handler, and the engine ends the subscription
	// when the client goes.
	ctx := context.WithoutCancel(r.Context())
	sub, err := s.opts.Hub.Subscribe(ctx, req)
	if err != nil {
		s.release(client)
		writeError(w, statusOf(err), err.Error())
		return
	}
	if r.Method == http.MethodHead {
		sub.Close()
		s.release(client)
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		return
	}
	stopExpiry := func() bool { return false }
	if claims != nil && claims.ExpiresAt != nil {
		stopExpiry = expireAt(sub, claims.ExpiresAt.Sub(s.auth.now()))
	}
	s.serveStream(w, r, stream{endpoint: endpointEvents, sub: sub, client: client, stopExpiry: stopExpiry, topics: topics})
}

// stream is a subscription to serve, and what serveStream needs to know of it.
type stream struct {
	endpoint   string // endpointEvents or endpointMercure, for the metrics
	sub        *hub.Subscription
	client     string      // the client it was admitted for
	stopExpiry func() bool // stops the token's expiry timer; reports whether it fired
	topics     []string    // name the subscription in log lines
}

// serveStream writes the subscription of st to the client of r through the
// engine, and releases it when the stream ends. Every stream of the server,
// /events' and the Mercure hub's, is served here.
func (s *Server) serveStream(w http.ResponseWriter, r *http.Request, st stream) {
	log := s.logger(r)
	// ended is kept with every stream the engine serves: it holds st and
	// log, nothing more.
	ended := func(error) {
		// The subscription's error says why, whoever ended it: the engine
		// ends it with its own reason (client gone, slow, write failed).
		err := st.sub.Err()
		s.release(st.client)
		expired := st.stopExpiry()
		s.metrics.streamEnded(st.endpoint, err, expired)
		switch {
		case expired:
			log.Debug("stream ended: token expired", "client", st.client, "topics", st.topics)
		case errors.Is(err, hub.ErrSlowSubscriber), errors.Is(err, conn.ErrSlowClient):
			log.Info("stream ended: slow subscriber", "client", st.client, "topics", st.topics, "err", err)
		case errors.Is(err, conn.ErrWriteFailed), errors.Is(err, hub.ErrOverrun):
			log.Debug("stream ended", "client", st.client, "err", err)
		}
	}

	// HTTP/1.x streams leave net/http: the engine's writers serve them with
	// no goroutine per stream. HTTP/2 streams share their connection and
	// stay in this handler.
	if c, head, err := sse.Detach(w, r); err == nil {
		s.engine.Serve(c, head, st.sub, ended)
		return
	}
	out, err := sse.Open(w, r, sse.Options{Heartbeat: -1, WriteTimeout: s.opts.WriteTimeout})
	if err != nil {
		st.sub.Close()
		ended(err)
		return
	}
	err = s.engine.Stream(out, st.sub)
	out.Close()
	ended(err)
}

// admit counts a new stream against the limits, or says why it may not open.
func (s *Server) admit(client string) (int, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.open >= s.opts.MaxSubscribers {
		return http.StatusTooManyRequests, fmt.Sprintf("too many open streams (limit %d); retry later", s.opts.MaxSubscribers)
	}
	if s.byClient[client] >= s.opts.MaxSubscribersPerClient {
		return http.StatusTooManyRequests, fmt.Sprintf("too many open streams from %s (limit %d)", client, s.opts.MaxSubscribersPerClient)
	}
	s.open++
	s.byClient[client]++
	return 0, ""
}

func (s *Server) release(client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.open--
	if s.byClient[client]--; s.byClient[client] <= 0 {
		delete(s.byClient, client)
	}
}

// Streams returns how many streams are open.
func (s *Server) Streams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.open
}

func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// statusWriter remembers the status a handler answered with and, for an
// error, its message (see writeError) and the topic concerned.
type statusWriter struct {
	http.ResponseWriter
	status int
	reason string
	topic  string
}

func (w *statusWriter) WriteHeader(status int) {
	w.status = status
	w.ResponseWriter.WriteHeader(status)
}

// publish handles POST /events, timing it and counting its failures.
func (s *Server) publish(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w}
	s.publishEvent(sw, w, r)
	s.metrics.publishDuration.WithLabelValues(endpointEvents).Observe(time.Since(start).Seconds())
	if sw.status >= 400 {
		s.metrics.publishFailed(endpointEvents, sw.status)
		// One line per failed publish: the client's mistakes at info,
		// the hub's or the store's failures at error.
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		s.logger(r).LogAttrs(r.Context(), level, "publish failed",
			slog.Int("status", sw.status), slog.String("topic", sw.topic),
			slog.String("client", clientAddr(r)), slog.String("reason", sw.reason))
	}
}

// publishEvent answers through w; raw is the unwrapped writer, for
// [http.MaxBytesReader].
func (s *Server) publishEvent(w *statusWriter, raw http.ResponseWriter, r *http.Request) {
	var claims *Claims
	if s.auth != nil {
		var aerr *authError
		claims, aerr = s.auth.authenticate(r)
		if aerr == nil && claims == nil {
			aerr = unauthorized("", "publishing needs a token")
		}
		if aerr != nil {
			s.refuse(w, r, aerr)
			return
		}
	}
	r.Body = http.MaxBytesReader(raw, r.Body, s.opts.MaxBodyBytes)
	msgs, batch, err := decodePublish(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", tooBig.Limit))
			return
		}
		var he *httpError
		if errors.As(err, &he) {
			writeError(w, he.status, he.msg)
			return
		}
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	w.topic = msgs[0].Topic
	// Every event of a batch is checked before any is published: one
	// refused refuses the batch, and the error names it.
	for i, msg := range msgs {
		which := ""
		if batch {
			which = fmt.Sprintf("event %d: ", i)
		}
		if strings.HasPrefix(msg.Topic, MercurePrefix) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%stopic %.64q: topics under %q are the Mercure hub's; publish them to its endpoint", which, msg.Topic, MercurePrefix))
			return
		}
		if claims != nil {
			if aerr := authorizePublish(claims, msg.Topic); aerr != nil {
				aerr.msg = which + aerr.msg
				s.refuse(w, r, aerr)
				return
			}
		}
		if s.opts.Hub.Presence() != nil && strings.HasPrefix(msg.Topic, api.PresencePrefix) {
			writeError(w, http.StatusBadRequest, fmt.Sprintf("%stopic %.60q is reserved: presence/ topics carry the hub's join and leave events", which, msg.Topic))
			return
		}
	}
	// A publish waits at most PublishTimeout, for a log that is slow to
	// answer or that pushes back because dispatch is behind: then 503, and
	// the publisher retries (nothing was stored for ErrBusy).
	ctx, cancel := context.WithTimeout(r.Context(), s.opts.PublishTimeout)
	defer cancel()
	if batch {
		ids, err := s.opts.Hub.PublishBatch(ctx, msgs)
		if err != nil {
			s.publishError(w, err)
			return
		}
		writeJSON(w, http.StatusCreated, api.PublishBatchResponse{IDs: ids})
		return
	}
	id, err := s.opts.Hub.Publish(ctx, msgs[0])
	if err != nil {
		s.publishError(w, err)
		return
	}
	writeJSON(w, http.StatusCreated, api.PublishResponse{ID: id})
}

// publishError answers a publish the hub refused or failed.
func (s *Server) publishError(w http.ResponseWriter, err error) {
	if errors.Is(err, hub.ErrBusy) {
		w.Header().Set("Retry-After", "1")
	}
	writeError(w, statusOf(err), err.Error())
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

// decodePublish reads a publish request: JSON, or a URL-encoded or
// multipart form with fields topic, type, data and retry. A JSON array is
// a batch (batch is true): one message per element, in order.
func decodePublish(r *http.Request) (msgs []hub.Message, batch bool, err error) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if ct == "" {
		mt, err = "application/json", nil
	}
	if err != nil {
		return nil, false, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("bad Content-Type %q", ct)}
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return decodeJSON(r.Body)
	case mt == "application/x-www-form-urlencoded" || mt == "multipart/form-data":
		if err := r.ParseMultipartForm(1 << 20); err != nil && !errors.Is(err, http.ErrNotMultipart) {
			return nil, false, fmt.Errorf("malformed form: %w", err)
		}
		m := hub.Message{Topic: r.PostFormValue("topic"), Type: r.PostFormValue("type"), Data: r.PostFormValue("data")}
		if v := r.PostFormValue("retry"); v != "" {
			ms, err := strconv.ParseInt(v, 10, 64)
			if err != nil || ms < 0 {
				return nil, false, fmt.Errorf("retry must be a whole number of milliseconds, got %.32q", v)
			}
			m.Retry = time.Duration(ms) * time.Millisecond
		}
		if m.Topic == "" {
			return nil, false, errors.New("missing topic")
		}
		return []hub.Message{m}, false, nil
	default:
		return nil, false, &httpError{http.StatusUnsupportedMediaType, fmt.Sprintf("unsupported Content-Type %q: send application/json or a form", mt)}
	}
}

// decodeJSON reads a JSON publish body: one [api.PublishRequest], or an
// array of 1 to hub.MaxBatch of them (batch).
func decodeJSON(body io.Reader) (msgs []hub.Message, batch bool, err error) {
	first, body := firstByte(body)
	batch = first == '['
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	var reqs []api.PublishRequest
	if batch {
		err = dec.Decode(&reqs)
	} else {
		reqs = make([]api.PublishRequest, 1)
		err = dec.Decode(&reqs[0])
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, false, err
		}
		return nil, false, fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, false, err
		}
		return nil, false, errors.New("malformed JSON: more than one value in the body")
	}
	if batch && (len(reqs) == 0 || len(reqs) > hub.MaxBatch) {
		return nil, false, fmt.Errorf("a batch holds 1 to %d events, got %d", hub.MaxBatch, len(reqs))
	}
	msgs = make([]hub.Message, len(reqs))
	for i, b := range reqs {
		if msgs[i], err = messageOf(b); err != nil {
			if batch {
				err = fmt.Errorf("event %d: %w", i, err)
			}
			return nil, false, err
		}
	}
	return msgs, batch, nil
}

// firstByte skips the JSON whitespace at the start of body and returns
// the byte after it (0 at the end or on an error, which reading on from
// rest reports) and a reader of body from that byte on.
func firstByte(body io.Reader) (first byte, rest io.Reader) {
	var b [1]byte
	for {
		n, err := body.Read(b[:])
		if n == 1 && b[0] != ' ' && b[0] != '\t' && b[0] != '\n' && b[0] != '\r' {
			return b[0], io.MultiReader(bytes.NewReader(b[:]), body)
		}
		if err != nil {
			return 0, body
		}
	}
}

// messageOf is the hub message of one publish request.
func messageOf(b api.PublishRequest) (hub.Message, error) {
	if b.Topic == "" {
		return hub.Message{}, errors.New("missing topic")
	}
	m := hub.Message{Topic: b.Topic, Type: b.Type}
	if b.Retry < 0 || b.Retry > int64(24*time.Hour/time.Millisecond) {
		return hub.Message{}, fmt.Errorf("retry must be between 0 and 86400000 milliseconds, got %d", b.Retry)
	}
	m.Retry = time.Duration(b.Retry) * time.Millisecond
	switch {
	case len(b.Data) == 0 || string(b.Data) == "null":
	case b.Data[0] == '"':
		if err := json.Unmarshal(b.Data, &m.Data); err != nil {
			return hub.Message{}, fmt.Errorf("malformed JSON data: %w", err)
		}
	default:
		var buf bytes.Buffer
		if err := json.Compact(&buf, b.Data); err != nil {
			return hub.Message{}, fmt.Errorf("malformed JSON data: %w", err)
		}
		m.Data = buf.String()
	}
	return m, nil
}

// statusOf maps the hub's errors to HTTP statuses.
func statusOf(err error) int {
	switch {
	case errors.Is(err, hub.ErrInvalidTopic), errors.Is(err, hub.ErrInvalidMessage), errors.Is(err, hub.ErrTooManyTopics):
		return http.StatusBadRequest
	case errors.Is(err, hub.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, hub.ErrClosed), errors.Is(err, hub.ErrUnavailable), errors.Is(err, hub.ErrBusy):
		return http.StatusServiceUnavailable
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable
	}
	return http.StatusInternalServerError
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if s.draining.Load() {
		writeError(w, http.StatusServiceUnavailable, "not ready: shutting down")
		return
	}
	if err := s.opts.Hub.Ping(ctx); err != nil {
		writeError(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

// Close waits until every stream the server detached from net/http has
// ended and had its last write, then stops the goroutines that wrote them.
// Close the hub first: its Close ends every subscription, and so every
// stream. When ctx ends first, Close cuts the streams left and returns
// ctx's error. Streams still held by net/http (HTTP/2) end with the hub
// and are waited for by http.Server.Shutdown.
func (s *Server) Close(ctx context.Context) error { return s.engine.Close(ctx) }

// Drain marks the server as shutting down: /readyz answers 503 from now on,
// so a load balancer stops sending new clients while open streams are
// being ended. Everything else keeps working until the hub closes.
func (s *Server) Drain() { s.draining.Store(true) }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with status and a JSON error saying msg; a
// statusWriter remembers msg, for the publish log line.
func writeError(w http.ResponseWriter, status int, msg string) {
	if sw, ok := w.(*statusWriter); ok {
		sw.reason = msg
	}
	writeJSON(w, status, api.Error{Error: msg})
}
