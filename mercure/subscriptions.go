package mercure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/url"
	"strings"
)

// Active subscriptions (draft-dunglas-mercure, "Active Subscriptions"): the
// shapes of subscription events and the subscription API, and the API's
// handler. The hub behind it keeps the records ([SubscriptionSource]) and
// publishes the events ([SubscriptionEvent]).

// Document types of the subscription API and events.
const (
	// SubscriptionType is the type property of one subscription's document.
	SubscriptionType = "subscription"
	// SubscriptionsType is the type property of a collection.
	SubscriptionsType = "subscriptions"
	// SubscriptionsContext is the @context of a collection: what the
	// pre-standardization protocol sent (JSON-LD), kept for its clients.
	SubscriptionsContext = "https://mercure.rocks/"
	// subscriptionsSegment follows the hub URL's path in every topic and
	// URL of the feature.
	subscriptionsSegment = "/subscriptions"
)

// MaxSubscriptionsListed bounds a collection's subscriptions; the draft
// lets a hub truncate collections.
const MaxSubscriptionsListed = 10000

// Subscription is one subscription's document: the data of its
// subscription events and the subscription API's answer for it.
type Subscription struct {
	ID         string          `json:"id"`
	Type       string          `json:"type"`
	MatchType  string          `json:"match_type"`
	Match      string          `json:"match"`
	Subscriber string          `json:"subscriber"`
	Active     bool            `json:"active"`
	Payload    json.RawMessage `json:"payload,omitempty"`
}

// Subscriptions is a collection's document. LastEventID is also on the
// Link header, where the draft asks for it; the body carries it under the
// reference hub's name and the draft's OpenAPI description's.
type Subscriptions struct {
	Context          string         `json:"@context"`
	ID               string         `json:"id"`
	Type             string         `json:"type"`
	LastEventID      string         `json:"lastEventID"`
	LastEventIDSnake string         `json:"last_event_id"`
	Subscriptions    []Subscription `json:"subscriptions"`
}

// ActiveSubscription is one connection's record as a [SubscriptionSource]
// lists it: its hub-generated subscriber ID, its matchers and its token's
// payload.
type ActiveSubscription struct {
	Subscriber string
	Matchers   []Matcher
	Payload    json.RawMessage
}

// SubscriptionSource is what the subscription API reads. Set
// Options.Subscriptions to one to serve the feature.
type SubscriptionSource interface {
	// LastEventID returns the ID of the last update the hub dispatched,
	// or [EarliestID] when none was; the handler asks it before listing,
	// so that a client following events from it misses no change.
	LastEventID(ctx context.Context) (string, error)
	// Subscriptions yields every active subscription, possibly one
	// twice. An error ends the listing.
	Subscriptions(ctx context.Context) iter.Seq2[ActiveSubscription, error]
	// Subscription returns the subscription of this subscriber, or an
	// error wrapping [ErrNotFound].
	Subscription(ctx context.Context, subscriber string) (ActiveSubscription, error)
}

// escapeVar percent-encodes v as RFC 6570 simple string expansion does:
// every byte but the unreserved ones (ALPHA, DIGIT, '-', '.', '_', '~'),
// once, with upper-case hex; a '%' in v is encoded too.
func escapeVar(v string) string {
	const hex = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		c := v[i]
		if isUnreserved(c) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&15])
	}
	return b.String()
}

// SubscriptionsPath returns the path of the subscription API's collection:
// the hub URL's path and /subscriptions.
func (h *HubURL) SubscriptionsPath() string {
	return strings.TrimSuffix(h.path, "/") + subscriptionsSegment
}

// SubscriptionTopic returns the topic of the events about the subscription
// of subscriber with the matcher m, and the path of its API resource:
// {hub path}/subscriptions/{match_type}/{match}/{subscriber}, each
// variable percent-encoded exactly once.
func (h *HubURL) SubscriptionTopic(m Matcher, subscriber string) string {
	return h.matcherPath(m) + "/" + escapeVar(subscriber)
}

func (h *HubURL) matcherPath(m Matcher) string {
	return h.SubscriptionsPath() + "/" + escapeVar(m.Type) + "/" + escapeVar(m.Value)
}

// SubscriptionEvent returns the document of the event announcing that the
// subscription of subscriber with m started (active) or ended. The hub
// publishes it on its ID, private, with the event type [ReservedType].
func (h *HubURL) SubscriptionEvent(m Matcher, subscriber string, payload json.RawMessage, active bool) Subscription {
	if len(payload) == 0 || string(payload) == "null" {
		payload = nil
	}
	return Subscription{
		ID: h.SubscriptionTopic(m, subscriber), Type: SubscriptionType,
		MatchType: m.Type, Match: m.Value, Subscriber: subscriber, Active: active, Payload: payload,
	}
}

// subscriptionsRequest is a parsed request path of the subscription API.
type subscriptionsRequest struct {
	path       string // canonical: the topic to authorize and the id
	matcher    *Matcher
	subscriber string
}

// parseSubscriptionsPath parses escaped, the request's escaped path. It
// returns an error wrapping ErrBadRequest for an escape that does not
// decode, an unknown matcher type or an empty variable, and ErrNotFound for
// a path of another shape.
func (h *HubURL) parseSubscriptionsPath(escaped string) (subscriptionsRequest, error) {
	base := h.SubscriptionsPath()
	rest, ok := strings.CutPrefix(escaped, base)
	if !ok || rest != "" && rest[0] != '/' {
		return subscriptionsRequest{}, ErrNotFound
	}
	if rest == "" {
		return subscriptionsRequest{path: base}, nil
	}
	segs := strings.Split(rest[1:], "/")
	if len(segs) != 2 && len(segs) != 3 {
		return subscriptionsRequest{}, fmt.Errorf("%w: want %s/{match_type}/{match}[/{subscriber}]", ErrNotFound, base)
	}
	vals := make([]string, len(segs))
	for i, s := range segs {
		v, err := url.PathUnescape(s)
		if err != nil {
			return subscriptionsRequest{}, fmt.Errorf("%w: path segment %.64q is not percent-encoded correctly", ErrBadRequest, s)
		}
		if v == "" {
			return subscriptionsRequest{}, fmt.Errorf("%w: empty path segment %d", ErrBadRequest, i+1)
		}
		if checkText(v) != nil {
			return subscriptionsRequest{}, fmt.Errorf("%w: path segment %.64q holds a control or format character", ErrBadRequest, s)
		}
		vals[i] = v
	}
	if vals[0] != MatchExact && vals[0] != MatchURLPattern {
		return subscriptionsRequest{}, fmt.Errorf("%w: unknown matcher type %.32q: want %q or %q", ErrBadRequest, vals[0], MatchExact, MatchURLPattern)
	}
	req := subscriptionsRequest{matcher: &Matcher{Type: vals[0], Value: vals[1]}}
	req.path = h.matcherPath(*req.matcher)
	if len(vals) == 3 {
		req.subscriber = vals[2]
		req.path += "/" + escapeVar(req.subscriber)
	}
	return req, nil
}

// serveSubscriptions answers GET and HEAD on the subscription API's paths.
func (h *Handler) serveSubscriptions(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here: use GET", r.Method))
		return
	}
	req, err := h.url.parseSubscriptionsPath(r.URL.EscapedPath())
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, err.Error())
		return
	}
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	tok, err := h.Authenticate(r, RoleSubscriber)
	if err != nil {
		h.refuseToken(w, r, err)
		return
	}
	if !tok.CanSubscribe(NewTarget([]string{req.path})) {
		h.log.Debug("mercure: subscriptions refused", "reason", "insufficient scope", "path", req.path)
		w.Header().Set("WWW-Authenticate", h.challenge+`, error="insufficient_scope"`)
		writeError(w, http.StatusForbidden, "the access token does not grant subscribe on "+req.path)
		return
	}
	ctx := r.Context()
	last, err := h.subs.LastEventID(ctx)
	if err != nil {
		h.refuse(w, r, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return
	}
	var doc any
	if req.subscriber != "" {
		doc, err = h.oneSubscription(ctx, req)
	} else {
		doc, err = h.collection(ctx, req, last)
	}
	if errors.Is(err, ErrNotFound) {
		writeError(w, http.StatusNotFound, "no active subscription "+req.path)
		return
	}
	if err != nil {
		h.refuse(w, r, fmt.Errorf("%w: %w", ErrUnavailable, err))
		return
	}
	body, err := json.Marshal(doc)
	if err != nil {
		h.refuse(w, r, err)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "application/json")
	hd.Set("Cache-Control", "must-revalidate")
	hd.Set("Link", "<"+h.url.String()+`>; rel="mercure"; last-event-id=`+quote(last)+`; type="mercure"; content-type="application/json"`)
	hd.Set("Content-Length", fmt.Sprint(len(body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// oneSubscription returns the document of req's subscription.
func (h *Handler) oneSubscription(ctx context.Context, req subscriptionsRequest) (any, error) {
	s, err := h.subs.Subscription(ctx, req.subscriber)
	if err != nil {
		return nil, err
	}
	for _, m := range s.Matchers {
		if m == *req.matcher {
			return h.url.SubscriptionEvent(m, s.Subscriber, s.Payload, true), nil
		}
	}
	return nil, ErrNotFound
}

// collection returns the collection req names: every subscription, or
// those of one matcher; at most MaxSubscriptionsListed.
func (h *Handler) collection(ctx context.Context, req subscriptionsRequest, last string) (any, error) {
	out := Subscriptions{
		Context: SubscriptionsContext, ID: req.path, Type: SubscriptionsType,
		LastEventID: last, LastEventIDSnake: last, Subscriptions: []Subscription{},
	}
	seen := map[string]bool{}
	for s, err := range h.subs.Subscriptions(ctx) {
		if err != nil {
			return nil, err
		}
		for _, m := range s.Matchers {
			if req.matcher != nil && m != *req.matcher {
				continue
			}
			d := h.url.SubscriptionEvent(m, s.Subscriber, s.Payload, true)
			if seen[d.ID] {
				continue
			}
			seen[d.ID] = true
			out.Subscriptions = append(out.Subscriptions, d)
			if len(out.Subscriptions) == MaxSubscriptionsListed {
				return out, nil
			}
		}
	}
	return out, nil
}
