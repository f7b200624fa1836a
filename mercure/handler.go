package mercure

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// Hub is what the protocol needs from the hub behind it: storing and
// dispatching updates, and serving subscribers. herald's hub implements it;
// this package does not.
//
// Both methods may be called concurrently.
type Hub interface {
	// Publish stores u and dispatches it to every subscriber whose
	// [Subscriber.Allows] accepts it, then returns its ID. It must:
	//   - keep u.ID when it is not empty, and generate one otherwise: a
	//     valid IRI, or a fragment ("#...") unique to the hub, which no
	//     publisher can supply;
	//   - make the ID a cursor: a later subscribe with it as LastEventID
	//     resumes right after u; when several updates share an ID, the
	//     earliest in the hub's history is the one it names;
	//   - dispatch in one order, the same for every subscriber and for
	//     replay, and encode the event with [Update.AppendEvent];
	//   - return only once u is in the history, so that a subscriber
	//     resuming from an ID returned earlier can replay it.
	// An error wrapping [ErrBadRequest], [ErrTooLarge] or [ErrUnavailable]
	// is answered with that status; any other with 500.
	Publish(ctx context.Context, u Update) (id string, err error)

	// Subscribe registers s and returns its stream. Before returning it
	// must have fixed where the stream starts:
	//   - with no LastEventID, at the next update published;
	//   - with LastEventID [EarliestID], at the oldest update the history
	//     holds (the hub may decline, starting at the next update instead);
	//   - with another LastEventID, right after the earliest update bearing
	//     that ID, or, when the history has none, at its oldest update.
	// Every update from there on, replayed or live, is sent in history
	// order, with no gap and no duplicate between replay and live, if and
	// only if s.Allows accepts it, evaluated when it is sent: private
	// updates are filtered by the subscriber's current token on replay as
	// live, whatever was authorized when they were published.
	//
	// The stream must end no later than s.Expires when that is set, and
	// when ctx ends. Errors are answered as Publish's are, and one wrapping
	// [ErrTooManyRequests] with 429.
	Subscribe(ctx context.Context, s *Subscriber) (Stream, error)
}

// Stream is one subscriber's stream, as [Hub.Subscribe] returns it.
type Stream interface {
	// LastEventID returns the value of the Mercure-Last-Event-ID response
	// header: the ID of the update that precedes, in the history, the first
	// update the stream sends, or [EarliestID] when none does (an empty
	// history, an "earliest" request, or a cursor the history does not
	// hold). It is called before Serve, only when the request had a
	// cursor.
	LastEventID() string
	// Serve writes the event stream to w until the stream ends: ctx is done
	// (the client left, or its token expired), or the hub shuts down. The
	// handler has set the response headers it needs on w; Serve sets the
	// event-stream ones and writes. It is called exactly once, and must
	// release the subscription when it returns.
	Serve(ctx context.Context, w http.ResponseWriter, r *http.Request) error
}

// Subscriber is one subscribe request, validated and authorized, as the
// hub receives it.
type Subscriber struct {
	// Selector holds the subscriber's topic matchers.
	Selector *Selector
	// Token is the subscriber's validated token; nil for an anonymous
	// subscriber, which receives only public updates.
	Token *Token
	// LastEventID is the reconnection cursor, or empty for none.
	LastEventID string
	// Expires is when the stream must end: the token's exp. Zero means
	// never (anonymous).
	Expires time.Time
}

// Allows reports whether the update with the topics of t and the given
// privacy may be sent to s: its selector matches one of the topics, and,
// for a private update, its token grants subscribe on one of them.
func (s *Subscriber) Allows(t *Target, private bool) bool {
	if !s.Selector.Matches(t) {
		return false
	}
	return !private || s.Token != nil && s.Token.CanSubscribe(t)
}

// Options configures a [Handler]. Hub and Auth.PublisherKeys are required;
// every other zero value means a default.
type Options struct {
	// HubURL is the hub's public URL: the base relative topics and
	// patterns are resolved against, the root of the reserved namespace,
	// the path the handler answers on, and where the metadata's path is
	// derived from. Empty means [DefaultHubURL].
	HubURL string
	// Hub stores and dispatches updates.
	Hub Hub
	// Auth configures token validation.
	Auth AuthOptions
	// Limits bounds requests.
	Limits Limits
	// Legacy also accepts what the pre-standardization protocol used, for
	// clients and tokens not yet migrated: tokens without typ at+jwt (none,
	// or "JWT"), the "mercure" claim and its namespaced form, the
	// authorization query parameter, and the topic and lastEventID
	// subscribe parameters. Off, the handler
	// speaks the draft only.
	Legacy bool
	// Subscriptions, when set, turns on the active subscriptions feature's
	// API at the hub path and /subscriptions, and advertises it in the
	// metadata; the hub publishes the subscription events. Nil means off.
	Subscriptions SubscriptionSource
	// Now is the clock tokens are checked against. Nil means time.Now.
	Now func() time.Time
	// Logger receives a debug line per refused request. Nil discards.
	Logger *slog.Logger
}

// Handler serves the Mercure protocol: the hub URL (GET and QUERY
// subscribe, POST publish) and the protected resource metadata. It is safe
// for concurrent use.
type Handler struct {
	url          *HubURL
	backend      Hub
	subs         SubscriptionSource
	limits       Limits
	legacy       bool
	compiler     *compiler
	auth         *authenticator
	metadataJSON []byte
	challenge    string // the Bearer challenge without an error
	log          *slog.Logger
}

// New checks opts and returns the handler they describe.
func New(opts Options) (*Handler, error) {
	if opts.Hub == nil {
		return nil, ErrNoHub
	}
	if opts.HubURL == "" {
		opts.HubURL = DefaultHubURL
	}
	u, err := ParseHubURL(opts.HubURL)
	if err != nil {
		return nil, err
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	h := &Handler{url: u, backend: opts.Hub, subs: opts.Subscriptions, limits: opts.Limits.withDefaults(), legacy: opts.Legacy, log: opts.Logger}
	h.compiler = newCompiler(u, h.limits)
	if h.auth, err = newAuthenticator(opts.Auth, opts.Legacy, h.limits, opts.Now, h.compiler, u); err != nil {
		return nil, err
	}
	h.metadataJSON = marshalMetadata(h.Metadata())
	h.challenge = "Bearer resource_metadata=" + quote(u.MetadataURL())
	return h, nil
}

// HubURL returns the hub's URL.
func (h *Handler) HubURL() *HubURL { return h.url }

// ServeHTTP serves the hub path and the metadata path; any other path is
// 404. Every refusal is plain text, with the RFC 6750 challenge when it is
// about the token (docs/mercure.md lists them).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case h.url.Path():
	case h.url.MetadataPath():
		h.serveMetadata(w, r)
		return
	default:
		if h.subs != nil && strings.HasPrefix(r.URL.Path, h.url.SubscriptionsPath()) {
			h.serveSubscriptions(w, r)
			return
		}
		http.NotFound(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, MethodQuery:
		h.subscribe(w, r)
	case http.MethodPost:
		h.publish(w, r)
	default:
		w.Header().Set("Allow", "GET, POST, QUERY")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed: subscribe with GET or QUERY, publish with POST", r.Method))
	}
}

func (h *Handler) subscribe(w http.ResponseWriter, r *http.Request) {
	tok, err := h.Authenticate(r, RoleSubscriber)
	if errors.Is(err, ErrNoToken) && h.auth.opts.Anonymous {
		tok, err = nil, nil
	}
	if err != nil {
		h.refuseToken(w, r, err)
		return
	}
	req, err := h.ParseSubscribe(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	sub := &Subscriber{Selector: req.Selector, Token: tok, LastEventID: req.LastEventID}
	ctx := r.Context()
	if tok != nil {
		sub.Expires = tok.Expires
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, tok.Expires)
		defer cancel()
	}
	stream, err := h.backend.Subscribe(ctx, sub)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if req.LastEventID != "" {
		// The draft's field, and the pre-standardization one, which
		// clients written for the reference hub's older versions read.
		id := stream.LastEventID()
		w.Header().Set("Mercure-Last-Event-ID", id)
		w.Header().Set("Last-Event-ID", id)
	}
	if err := stream.Serve(ctx, w, r); err != nil {
		h.log.Debug("mercure: stream ended", "error", err)
	}
}

func (h *Handler) publish(w http.ResponseWriter, r *http.Request) {
	tok, err := h.Authenticate(r, RolePublisher)
	if err != nil {
		h.refuseToken(w, r, err)
		return
	}
	if tok.fromCookie {
		if err := h.auth.checkOrigin(r); err != nil {
			h.log.Debug("mercure: publish refused", "reason", err)
			writeError(w, http.StatusForbidden, err.Error())
			return
		}
	}
	u, err := h.ParsePublish(r)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	if !tok.CanPublish(u.Topics) {
		h.log.Debug("mercure: publish refused", "reason", "insufficient scope", "topics", u.Topics)
		w.Header().Set("WWW-Authenticate", h.challenge+`, error="insufficient_scope"`)
		writeError(w, http.StatusForbidden, "the access token does not grant publish on every topic of the update")
		return
	}
	id, err := h.backend.Publish(r.Context(), u)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write([]byte(id))
}

// refuseToken answers an Authenticate error (draft-dunglas-mercure, "Error
// Responses"): no token, 401 with a bare challenge; a malformed
// presentation, 400 invalid_request; any token failure, 401 invalid_token
// without saying which check failed.
func (h *Handler) refuseToken(w http.ResponseWriter, r *http.Request, err error) {
	h.log.Debug("mercure: token refused", "method", r.Method, "reason", err)
	switch {
	case errors.Is(err, ErrNoToken):
		w.Header().Set("WWW-Authenticate", h.challenge)
		writeError(w, http.StatusUnauthorized, "an access token is required")
	case errors.Is(err, ErrInvalidRequest):
		w.Header().Set("WWW-Authenticate", h.challenge+`, error="invalid_request"`)
		writeError(w, http.StatusBadRequest, "the Authorization header must be \"Bearer <token>\"")
	default:
		w.Header().Set("WWW-Authenticate", h.challenge+`, error="invalid_token"`)
		writeError(w, http.StatusUnauthorized, "invalid access token")
	}
}

// refuse answers a request error with the status its sentinel names.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "internal error"
	switch {
	case errors.Is(err, ErrUnsupportedMediaType):
		status, msg = http.StatusUnsupportedMediaType, err.Error()
		w.Header().Set("Accept-Post", formType)
	case errors.Is(err, ErrTooLarge):
		status, msg = http.StatusRequestEntityTooLarge, err.Error()
	case errors.Is(err, ErrBadRequest):
		status, msg = http.StatusBadRequest, err.Error()
	case errors.Is(err, ErrTooManyRequests):
		status, msg = http.StatusTooManyRequests, err.Error()
	case errors.Is(err, ErrUnavailable):
		status, msg = http.StatusServiceUnavailable, err.Error()
		w.Header().Set("Retry-After", "1")
	}
	if status == http.StatusInternalServerError {
		h.log.Error("mercure: hub error", "method", r.Method, "error", err)
	} else {
		h.log.Debug("mercure: request refused", "method", r.Method, "status", status, "reason", err)
	}
	writeError(w, status, msg)
}

// writeError answers status with msg as plain text, as the reference hub
// does; Mercure defines no error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(strings.TrimPrefix(msg, "mercure: ") + "\n"))
}
