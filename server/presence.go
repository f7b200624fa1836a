package server

import (
	"bytes"
	"container/heap"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/presence"
)

// Presence over herald's API (docs/presence.md): when the hub keeps presence
// (hub.Options.Presence), every GET /events subscription is recorded with its
// topics, except those under api.PresencePrefix, and announced on
// presence/<pattern> by herald:join and herald:leave events; GET /presence
// lists the subscribers of a topic or pattern. A subscription that names
// only presence/ patterns is a watcher and is not recorded.
//
// The records carry herald's matchers only (presence.KindHerald); a Mercure
// endpoint sharing the registry records its own kinds, which this API
// leaves out, and announces them with its own events.

// Limits of the presence API.
const (
	// MaxPresencePayload is the longest payload parameter a subscription
	// may give with auth off, in bytes.
	MaxPresencePayload = 1024
	// DefaultPresenceLimit and MaxPresenceLimit bound a page of GET
	// /presence.
	DefaultPresenceLimit = 100
	MaxPresenceLimit     = 1000
	// presenceTimeout bounds a listing.
	presenceTimeout = 10 * time.Second
)

// Wildcard segments as they appear in a presence event's topic, which may
// hold no '*'.
const (
	escStar     = "%2A"
	escStarStar = "%2A%2A"
)

// presenceTopic returns the topic the events about the subscription pattern
// p are published on: api.PresencePrefix and p, each wildcard segment
// written %2A ("*") or %2A%2A ("**").
func presenceTopic(p string) string {
	if !topic.IsPattern(p) {
		return api.PresencePrefix + p
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch s {
		case "*":
			segs[i] = escStar
		case "**":
			segs[i] = escStarStar
		}
	}
	return api.PresencePrefix + strings.Join(segs, "/")
}

// patternOfPresence is the inverse of presenceTopic: the pattern whose
// events go on topic t, or false when t is not a presence topic.
func patternOfPresence(t string) (string, bool) {
	p, ok := strings.CutPrefix(t, api.PresencePrefix)
	if !ok {
		return "", false
	}
	if !strings.Contains(p, escStar) {
		return p, true
	}
	segs := strings.Split(p, "/")
	for i, s := range segs {
		switch s {
		case escStar:
			segs[i] = "*"
		case escStarStar:
			segs[i] = "**"
		}
	}
	return strings.Join(segs, "/"), true
}

// PresenceEvents returns the events announcing that the subscription s
// joined (active) or left, for hub.Options.PresenceEvents: one event per
// herald topic or pattern p of s, of type api.TypeJoin or api.TypeLeave, on
// presence/<p> (wildcard segments spelled %2A), whose data is the
// api.Subscriber with that one topic. Matchers of other kinds (Mercure's)
// get none, nor a pattern whose presence topic would be longer than a topic
// may be.
func PresenceEvents(s presence.Subscription, active bool) []hub.Message {
	typ := api.TypeLeave
	if active {
		typ = api.TypeJoin
	}
	var msgs []hub.Message
	for _, m := range s.Topics {
		if m.Kind != presence.KindHerald || strings.HasPrefix(m.Value, api.PresencePrefix) {
			continue
		}
		t := presenceTopic(m.Value)
		if len(t) > topic.MaxLen {
			continue
		}
		data, _ := json.Marshal(subscriber(s, []string{m.Value})) // strings and valid JSON: always marshals
		msgs = append(msgs, hub.Message{Topic: t, Type: typ, Data: string(data)})
	}
	return msgs
}

// subscriber returns the record s as the API shows it, with topics.
func subscriber(s presence.Subscription, topics []string) api.Subscriber {
	payload := s.Payload
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	return api.Subscriber{ID: s.ID, Topics: topics, Node: s.Node, Start: s.Start.UTC().Format(time.RFC3339Nano), Payload: payload}
}

// announcement returns how a GET /events subscription to topics appears in
// presence: its topics but those under presence/, and its payload: the
// token's payload claim with auth on, the payload parameter with auth off.
// It returns nil for a watcher (only presence/ topics) and an error for a
// payload parameter it refuses.
func (s *Server) announcement(q url.Values, claims *Claims, topics []string) (*hub.Announce, error) {
	var a hub.Announce
	for _, t := range topics {
		if !strings.HasPrefix(t, api.PresencePrefix) {
			a.Topics = append(a.Topics, presence.Matcher{Kind: presence.KindHerald, Value: t})
		}
	}
	raw, given := q["payload"]
	switch {
	case s.auth != nil && given:
		return nil, errors.New("payload parameter refused: with auth on, a subscriber's payload is its token's payload claim")
	case s.auth != nil && claims != nil && len(claims.Payload) > 0 && string(claims.Payload) != "null":
		a.Payload = claims.Payload
	case given:
		p, err := payloadParam(raw)
		if err != nil {
			return nil, err
		}
		a.Payload = p
	}
	if len(a.Topics) == 0 {
		return nil, nil
	}
	return &a, nil
}

// payloadParam checks the payload parameter's values: one JSON value of at
// most MaxPresencePayload bytes, returned compact; null is none.
func payloadParam(vals []string) (json.RawMessage, error) {
	if len(vals) != 1 {
		return nil, fmt.Errorf("payload given %d times; give it once", len(vals))
	}
	v := vals[0]
	if len(v) > MaxPresencePayload {
		return nil, fmt.Errorf("payload of %d bytes, longer than %d", len(v), MaxPresencePayload)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, []byte(v)); err != nil {
		return nil, fmt.Errorf("payload is not one JSON value: %v", err)
	}
	if buf.String() == "null" {
		return nil, nil
	}
	return buf.Bytes(), nil
}

// presenceFilter returns the Filter of a subscription to patterns when one
// of them can match presence events, else nil. Topic matching alone would
// deliver presence/chat/* the events of a chat/** subscriber (its topic's
// %2A%2A is one segment); the filter delivers a presence event only when a
// pattern covers presence/ and the pattern the event is about, as
// GET /presence decides. It refuses private events, as no filter does.
func presenceFilter(patterns []string) func(*hub.Candidate) bool {
	var watch []string
	for _, p := range patterns {
		if topic.Overlaps(p, api.PresencePrefix+"**") {
			watch = append(watch, p)
		}
	}
	if len(watch) == 0 {
		return nil
	}
	return func(c *hub.Candidate) bool {
		if c.Private || len(c.Topics) == 0 {
			return false
		}
		p, ok := patternOfPresence(c.Topics[0])
		if !ok {
			return true
		}
		return coveredBy(watch, api.PresencePrefix+p)
	}
}

// doubleEncoded finds a percent-escape in a decoded query value: herald's
// topics and IDs need none, so one left after decoding means the client
// encoded the value twice.
var doubleEncoded = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// presenceParams are the query parameters GET /presence takes.
var presenceParams = map[string]bool{"topic": true, "limit": true, "after": true, api.TokenParam: true}

// presenceQuery is a checked GET /presence request.
type presenceQuery struct {
	topic string
	limit int
	after string
}

// parsePresenceQuery checks the query of GET /presence.
func parsePresenceQuery(q url.Values) (presenceQuery, error) {
	pq := presenceQuery{limit: DefaultPresenceLimit}
	for name, vals := range q {
		if !presenceParams[name] {
			return pq, fmt.Errorf("unknown parameter %.40q: want topic, limit and after", name)
		}
		if len(vals) != 1 {
			return pq, fmt.Errorf("%s given %d times; give it once", name, len(vals))
		}
		if name != api.TokenParam && doubleEncoded.MatchString(vals[0]) {
			return pq, fmt.Errorf("%s %.60q holds a percent-escape after decoding: encode it once", name, vals[0])
		}
	}
	pq.topic = q.Get("topic")
	switch {
	case !q.Has("topic"):
		return pq, errors.New("missing topic: give ?topic= a topic or pattern")
	case strings.HasPrefix(pq.topic, api.PresencePrefix):
		return pq, fmt.Errorf("topic %.60q: presence/ topics carry presence events; ask about the topics themselves", pq.topic)
	}
	if err := topic.ValidatePattern(pq.topic); err != nil {
		return pq, err
	}
	if q.Has("limit") {
		n, err := strconv.Atoi(q.Get("limit"))
		if err != nil || n < 1 || n > MaxPresenceLimit {
			return pq, fmt.Errorf("limit %.20q: want a whole number from 1 to %d", q.Get("limit"), MaxPresenceLimit)
		}
		pq.limit = n
	}
	if q.Has("after") {
		pq.after = q.Get("after")
		if err := (presence.Subscription{ID: pq.after, Topics: []presence.Matcher{{Kind: presence.KindHerald, Value: "x"}}}).Validate(); err != nil {
			return pq, fmt.Errorf("after %.60q is not a subscriber ID", pq.after)
		}
	}
	return pq, nil
}

// presence handles GET /presence?topic=T[&limit=N][&after=ID]: the
// subscribers, on every node, with a topic or pattern T covers, a page at a
// time in the order of their IDs, and how many there are. It is authorized
// as a subscription to presence/T. A node shutting down (Drain) answers 503.
func (s *Server) presence(w http.ResponseWriter, r *http.Request) {
	reg := s.opts.Hub.Presence()
	if reg == nil {
		writeError(w, http.StatusNotFound, "presence is off on this node")
		return
	}
	pq, err := parsePresenceQuery(r.URL.Query())
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if s.draining.Load() {
		// Its own subscriptions are ending: ask another node.
		writeError(w, http.StatusServiceUnavailable, "not listing presence: shutting down")
		return
	}
	if s.auth != nil {
		claims, aerr := s.auth.authenticate(r)
		if aerr == nil {
			aerr = s.auth.authorizeSubscribe(claims, []string{api.PresencePrefix + pq.topic})
		}
		if aerr != nil {
			s.refuse(w, r, aerr)
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), presenceTimeout)
	defer cancel()
	list, err := listPresence(ctx, reg, pq)
	if err != nil {
		// The registry's errors are all of this kind: Redis unreachable,
		// too slow, or the registry closed by a shutdown.
		s.logger(r).Warn("presence: list", "topic", pq.topic, "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot list presence now: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, list)
}

// listPresence reads every record of reg once, counting those with a herald
// topic or pattern pq.topic covers and keeping the page after pq.after.
// It holds no more than a page and one record: a heap of the page's IDs.
func listPresence(ctx context.Context, reg presence.Registry, pq presenceQuery) (api.PresenceList, error) {
	out := api.PresenceList{Topic: pq.topic, Subscribers: []api.Subscriber{}}
	var page pageHeap // the limit+1 smallest IDs after pq.after, largest on top
	for rec, err := range reg.List(ctx) {
		if err != nil {
			if rec.ID == "" {
				return out, err
			}
			continue // a record it could not decode: skipped
		}
		var topics []string
		for _, m := range rec.Topics {
			if m.Kind == presence.KindHerald && topic.Covers(pq.topic, m.Value) {
				topics = append(topics, m.Value)
			}
		}
		if len(topics) == 0 {
			continue
		}
		out.Count++
		if rec.ID <= pq.after || len(page) > pq.limit && rec.ID >= page[0].ID || page.has(rec.ID) {
			continue
		}
		heap.Push(&page, subscriber(rec, topics))
		if len(page) > pq.limit+1 {
			heap.Pop(&page)
		}
	}
	if len(page) > pq.limit {
		heap.Pop(&page)
		out.Next = "more" // replaced below by the page's last ID
	}
	out.Subscribers = make([]api.Subscriber, len(page))
	for i := len(page) - 1; i >= 0; i-- {
		out.Subscribers[i] = heap.Pop(&page).(api.Subscriber)
	}
	if out.Next != "" {
		out.Next = out.Subscribers[len(out.Subscribers)-1].ID
	}
	return out, nil
}

// pageHeap is a max-heap of subscribers by ID.
type pageHeap []api.Subscriber

func (h pageHeap) Len() int           { return len(h) }
func (h pageHeap) Less(i, j int) bool { return h[i].ID > h[j].ID }
func (h pageHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *pageHeap) Push(x any)        { *h = append(*h, x.(api.Subscriber)) }
func (h *pageHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// has reports whether the page holds id (a registry may list a record
// twice).
func (h pageHeap) has(id string) bool {
	for _, s := range h {
		if s.ID == id {
			return true
		}
	}
	return false
}
