package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/mercure"
)

// mercureHub implements [mercure.Hub] over the server's hub and engine:
// Mercure updates are herald events on the topics of the Mercure namespace
// (mercuretopic.go), stored and replayed by the same log, and streamed by
// the same engine as /events' (docs/mercure.md).
type mercureHub struct {
	s *Server
}

// clientKey carries the client's address from the request to
// mercureHub.Subscribe, which counts the stream against the limits.
type clientKey struct{}

// withClient puts the client's address of each request in its context.
func withClient(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), clientKey{}, clientAddr(r))))
	})
}

// Publish publishes u as a herald event on the herald topics of its Mercure
// topics, keeping the publisher's ID. An update without one is known by
// hub.GeneratedIDPrefix and its log ID, an IRI that resumes like any other
// cursor; a publisher may not supply an ID of that form, which would name
// another update.
func (m *mercureHub) Publish(ctx context.Context, u mercure.Update) (string, error) {
	if strings.HasPrefix(u.ID, hub.GeneratedIDPrefix) {
		return "", fmt.Errorf("%w: id %.64q: IDs starting with %q are the hub's", mercure.ErrBadRequest, u.ID, hub.GeneratedIDPrefix)
	}
	start := time.Now()
	topic, also := mercureTopics(u.Topics)
	ctx, cancel := context.WithTimeout(ctx, m.s.opts.PublishTimeout)
	defer cancel()
	id, err := m.s.opts.Hub.Publish(ctx, hub.Message{
		Topic: topic, Also: also, ID: u.ID, Private: u.Private,
		Type: u.Type, Data: u.Data, Retry: u.Retry,
	})
	m.s.metrics.publishDuration.WithLabelValues(endpointMercure).Observe(time.Since(start).Seconds())
	if err != nil {
		m.s.metrics.publishFailed(endpointMercure, statusOf(err))
		return "", mercureError(err)
	}
	if u.ID != "" {
		return u.ID, nil
	}
	return hub.GeneratedIDPrefix + id, nil
}

// Subscribe opens a hub subscription for sub, counted against the
// server's limits on open streams. Its exact matchers are herald topics;
// a URL pattern or the wildcard subscribes to the whole namespace, each
// update then asked of the selector. A subscriber with a token is asked
// about every update (private ones need its grants); an anonymous one with
// exact matchers only is routed by the index alone and never gets a private
// update.
func (m *mercureHub) Subscribe(ctx context.Context, sub *mercure.Subscriber) (mercure.Stream, error) {
	client, _ := ctx.Value(clientKey{}).(string)
	if status, msg := m.s.admit(client); status != 0 {
		return nil, fmt.Errorf("%w: %s", mercure.ErrTooManyRequests, msg)
	}
	req := hub.SubscribeRequest{Topics: mercurePatterns(sub.Selector), OwnIDs: true, Quiet: true}
	if sub.Token != nil || slices.Equal(req.Topics, []string{mercureNamespace}) {
		req.Filter = mercureFilter(sub)
	}
	switch sub.LastEventID {
	case "":
	case mercure.EarliestID:
		req.FromStart = true
	default:
		req.LastEventID = sub.LastEventID
		req.ResolveIn = []string{mercureNamespace}
	}
	if m.s.opts.Hub.Presence() != nil {
		// Recorded and announced: the subscription events and the
		// subscription API (mercuresubs.go).
		req.Presence = mercureAnnounce(sub)
	}

	// The stream, not the request, bounds the subscription: a detached
	// stream outlives its handler. The token's expiry ends it (Serve).
	hs, err := m.s.opts.Hub.Subscribe(context.WithoutCancel(ctx), req)
	if err != nil {
		m.s.release(client)
		return nil, mercureError(err)
	}
	return &mercureStream{s: m.s, sub: hs, client: client, cursor: sub.LastEventID, expires: sub.Expires, selector: sub.Selector}, nil
}

// mercurePatterns returns the herald patterns a selector subscribes to.
func mercurePatterns(sel *mercure.Selector) []string {
	var out []string
	for _, m := range sel.Matchers() {
		if m.Type != mercure.MatchExact || m.Value == mercure.Wildcard {
			return []string{mercureNamespace}
		}
		name, _ := heraldTopic(m.Value, false)
		out = append(out, name)
	}
	return out
}

// mercureFilter returns the hub filter of sub: its selector and, for a
// private update, its token's grants, evaluated when the update is sent.
// The update's Mercure topics, and each URL pattern's result on them, are
// worked out once per update and kept in the candidate for the next
// subscription asked.
func mercureFilter(sub *mercure.Subscriber) func(*hub.Candidate) bool {
	return func(c *hub.Candidate) bool {
		tg, ok := c.Memo.(*mercure.Target)
		if !ok {
			tg = mercure.NewTarget(mercureTopicsOf(c.Topics))
			c.Memo = tg
		}
		return sub.Allows(tg, c.Private)
	}
}

// mercureStream is one Mercure subscriber's stream.
type mercureStream struct {
	s        *Server
	sub      *hub.Subscription
	client   string
	cursor   string
	expires  time.Time
	selector *mercure.Selector
}

// LastEventID is the cursor when the history held it and everything
// after it; "earliest" otherwise (none asked for, unknown, or events lost
// after it), the stream then starting at the oldest update kept.
func (st *mercureStream) LastEventID() string {
	if st.sub.Resumed() {
		return st.cursor
	}
	return mercure.EarliestID
}

// Serve hands the stream to the server's engine, as /events' streams are;
// for HTTP/1.x it returns at once, the engine writing the stream from then
// on. The token's expiry ends it with a comment.
func (st *mercureStream) Serve(_ context.Context, w http.ResponseWriter, r *http.Request) error {
	stop := func() bool { return false }
	if !st.expires.IsZero() {
		stop = expireAt(st.sub, time.Until(st.expires))
	}
	var names []string
	for _, m := range st.selector.Matchers() {
		names = append(names, m.Value)
	}
	st.s.serveStream(w, r, stream{endpoint: endpointMercure, sub: st.sub, client: st.client, stopExpiry: stop, topics: names})
	return nil
}

// mercureError marks an error of the hub with the sentinel of the status
// the Mercure handler answers it with.
func mercureError(err error) error {
	switch {
	case errors.Is(err, hub.ErrInvalidTopic), errors.Is(err, hub.ErrInvalidMessage), errors.Is(err, hub.ErrTooManyTopics):
		return fmt.Errorf("%w: %w", mercure.ErrBadRequest, err)
	case errors.Is(err, hub.ErrTooLarge):
		return fmt.Errorf("%w: %w", mercure.ErrTooLarge, err)
	case statusOf(err) == http.StatusServiceUnavailable:
		return fmt.Errorf("%w: %w", mercure.ErrUnavailable, err)
	}
	return err
}
