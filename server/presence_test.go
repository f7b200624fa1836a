package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
)

// newRegistry returns a memory registry closed after the test's hub.
func newRegistry(t testing.TB) presence.Registry {
	t.Helper()
	reg, err := presence.NewMemory(presence.MemoryOptions{Node: "node-a"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	return reg
}

// newPresenceEnv serves a hub that keeps presence in a memory registry.
func newPresenceEnv(t testing.TB, sopts server.Options) *env {
	t.Helper()
	return newEnv(t, hub.Options{Presence: newRegistry(t), PresenceEvents: server.PresenceEvents}, sopts)
}

// list asks GET /presence?query and decodes the answer, failing t unless
// it is 200.
func (e *env) list(t testing.TB, query string, header http.Header) api.PresenceList {
	t.Helper()
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, e.ts.URL+"/presence?"+query, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /presence?%s: %d %s", query, resp.StatusCode, body)
	}
	var out api.PresenceList
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET /presence?%s: %v in %s", query, err, body)
	}
	return out
}

// nextPresence reads the next event of d, which must be a presence event,
// and returns its type and data.
func nextPresence(t testing.TB, d *sse.Decoder) (string, api.Subscriber) {
	t.Helper()
	for {
		ev := next(t, d)
		if ev.Type == hub.TypeReplayed {
			continue
		}
		var s api.Subscriber
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatalf("event %s %q: %v", ev.Type, ev.Data, err)
		}
		return ev.Type, s
	}
}

// TestPresenceListsAndAnnounces subscribes over HTTP and checks that GET
// /presence lists each subscription under the patterns that cover its
// topics, with its payload, and that a watcher of presence/chat/* sees the
// joins and leaves of exactly the subscriptions chat/* covers.
func TestPresenceListsAndAnnounces(t *testing.T) {
	e := newPresenceEnv(t, server.Options{})
	_, watch := e.subscribe(t, "topic=presence/chat/*", nil)
	e.list(t, "topic=**", nil) // the watcher is not recorded
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })

	ctx, cancel := context.WithCancel(t.Context())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/events?topic=chat/lobby&topic=news&payload="+url.QueryEscape(`{ "user": "ada" }`), nil)
	ada, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer ada.Body.Close()
	typ, s := nextPresence(t, watch)
	if typ != api.TypeJoin || !slices.Equal(s.Topics, []string{"chat/lobby"}) || string(s.Payload) != `{"user":"ada"}` ||
		s.Node != "node-a" || !strings.HasPrefix(s.ID, "urn:uuid:") {
		t.Fatalf("first event: %s %+v, want Ada's join on chat/lobby", typ, s)
	}
	start, err := time.Parse(time.RFC3339Nano, s.Start)
	if err != nil || time.Since(start) > time.Minute || time.Since(start) < 0 {
		t.Errorf("start %q: %v, want about now", s.Start, err)
	}
	adaID := s.ID

	// A chat/** subscriber is not covered by chat/*: no event for it, and
	// listed under chat/** only. A chat/* subscriber is.
	_, _ = e.subscribe(t, "topic=chat/**", nil)
	_, _ = e.subscribe(t, "topic=chat/*", nil)
	typ, s = nextPresence(t, watch)
	if typ != api.TypeJoin || !slices.Equal(s.Topics, []string{"chat/*"}) || string(s.Payload) != "null" {
		t.Fatalf("second event: %s %+v, want the chat/* subscriber's join, payload null", typ, s)
	}

	for _, c := range []struct {
		query  string
		topics [][]string // of each subscriber listed, by ID order
	}{
		{"topic=chat/lobby", [][]string{{"chat/lobby"}}},
		{"topic=news", [][]string{{"news"}}},
		{"topic=chat/*", [][]string{{"chat/lobby"}, {"chat/*"}}},
		{"topic=chat/**", [][]string{{"chat/lobby"}, {"chat/**"}, {"chat/*"}}},
		{"topic=**", [][]string{{"chat/lobby", "news"}, {"chat/**"}, {"chat/*"}}},
		{"topic=sport", nil},
	} {
		got := e.list(t, c.query, nil)
		if got.Count != len(c.topics) || len(got.Subscribers) != len(c.topics) || got.Next != "" {
			t.Errorf("%s: %+v, want %d subscribers on one page", c.query, got, len(c.topics))
			continue
		}
		var want, have []string
		for i, s := range got.Subscribers {
			have = append(have, strings.Join(s.Topics, ","))
			want = append(want, strings.Join(c.topics[i], ","))
		}
		sort.Strings(want)
		sort.Strings(have)
		if !slices.Equal(have, want) || !slices.IsSortedFunc(got.Subscribers, func(a, b api.Subscriber) int { return strings.Compare(a.ID, b.ID) }) {
			t.Errorf("%s: topics %q, want %q, in the order of IDs", c.query, have, want)
		}
	}

	cancel() // Ada leaves
	typ, s = nextPresence(t, watch)
	if typ != api.TypeLeave || s.ID != adaID || !slices.Equal(s.Topics, []string{"chat/lobby"}) {
		t.Fatalf("after Ada left: %s %+v, want her leave", typ, s)
	}
	if got := e.list(t, "topic=chat/lobby", nil); got.Count != 0 {
		t.Errorf("chat/lobby after Ada left: %+v, want nobody", got)
	}
}

// TestPresencePaging lists 25 subscribers 10 at a time: each once, in
// the order of their IDs.
func TestPresencePaging(t *testing.T) {
	e := newPresenceEnv(t, server.Options{})
	for i := range 25 {
		e.subscribe(t, fmt.Sprintf("topic=room/%d", i), nil)
	}
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 25 })
	var ids []string
	after := ""
	for page := 0; ; page++ {
		q := "topic=room/*&limit=10"
		if after != "" {
			q += "&after=" + url.QueryEscape(after)
		}
		got := e.list(t, q, nil)
		if got.Count != 25 {
			t.Errorf("page %d: count %d, want 25", page, got.Count)
		}
		for _, s := range got.Subscribers {
			ids = append(ids, s.ID)
		}
		if got.Next == "" {
			if len(got.Subscribers) != 5 {
				t.Errorf("last page has %d, want 5", len(got.Subscribers))
			}
			break
		}
		if len(got.Subscribers) != 10 || got.Next != got.Subscribers[9].ID {
			t.Fatalf("page %d: %d subscribers, next %q", page, len(got.Subscribers), got.Next)
		}
		after = got.Next
	}
	if len(ids) != 25 || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != 25 {
		t.Errorf("paged IDs: %d, sorted %v; want 25 distinct in order", len(ids), slices.IsSorted(ids))
	}
}

// TestPresenceBadInput tries each bad request of the presence API and
// checks it answers 4xx with a JSON error.
func TestPresenceBadInput(t *testing.T) {
	e := newPresenceEnv(t, server.Options{})
	long := strings.Repeat("x", server.MaxPresencePayload)
	for _, c := range []struct {
		name, method, target string
		status               int
	}{
		{"no topic", "GET", "/presence", 400},
		{"empty topic", "GET", "/presence?topic=", 400},
		{"invalid topic", "GET", "/presence?topic=a//b", 400},
		{"wildcard inside a segment", "GET", "/presence?topic=chat/lob*", 400},
		{"a presence topic", "GET", "/presence?topic=presence/chat", 400},
		{"two topics", "GET", "/presence?topic=a&topic=b", 400},
		{"double-encoded topic", "GET", "/presence?topic=chat%252Flobby", 400},
		{"double-encoded after", "GET", "/presence?topic=a&after=urn%253Auuid", 400},
		{"limit 0", "GET", "/presence?topic=a&limit=0", 400},
		{"limit -1", "GET", "/presence?topic=a&limit=-1", 400},
		{"limit too large", "GET", "/presence?topic=a&limit=1001", 400},
		{"limit not a number", "GET", "/presence?topic=a&limit=ten", 400},
		{"limit twice", "GET", "/presence?topic=a&limit=1&limit=2", 400},
		{"after with a space", "GET", "/presence?topic=a&after=a+b", 400},
		{"after too long", "GET", "/presence?topic=a&after=" + strings.Repeat("u", 300), 400},
		{"unknown parameter", "GET", "/presence?topic=a&topics=b", 400},
		{"POST", "POST", "/presence?topic=a", 405},
		{"payload not JSON", "GET", "/events?topic=a&payload=ada", 400},
		{"payload two values", "GET", "/events?topic=a&payload=" + url.QueryEscape(`{} {}`), 400},
		{"payload twice", "GET", "/events?topic=a&payload=1&payload=2", 400},
		{"payload too long", "GET", "/events?topic=a&payload=" + url.QueryEscape(`"`+long+`"`), 400},
		{"publish on presence/", "POST", "/events", 400},
	} {
		body := ""
		if c.method == "POST" && strings.HasPrefix(c.target, "/events") {
			body = `{"topic":"presence/chat/lobby","type":"herald:join","data":{"id":"forged"}}`
		}
		status, _, msg := do(t, e, c.method, c.target, nil, body)
		if status != c.status || msg == "" {
			t.Errorf("%s: %d %q, want %d with a JSON error", c.name, status, msg, c.status)
		}
	}
	waitNoSubscribers(t, e)

	off := newEnv(t, hub.Options{}, server.Options{})
	if status, _, msg := do(t, off, "GET", "/presence?topic=a", nil, ""); status != http.StatusNotFound || !strings.Contains(msg, "presence is off") {
		t.Errorf("presence off: %d %q, want 404 saying so", status, msg)
	}
	if status, _ := off.post(t, "application/json", `{"topic":"presence/a","data":"x"}`); status != http.StatusCreated {
		t.Errorf("publish on presence/a with presence off: %d, want 201 (the prefix is reserved only with presence on)", status)
	}
}

// TestPresenceAuth: the presence API is authorized as a subscription to
// presence/<topic>, and a token's payload claim is carried into presence.
func TestPresenceAuth(t *testing.T) {
	e := newPresenceEnv(t, server.Options{Auth: &server.AuthOptions{Secret: testSecret}})
	withPayload := func(sub []string, payload string) string {
		c := server.Claims{Herald: server.Scope{Subscribe: sub}, Payload: json.RawMessage(payload)}
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(testSecret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	member := withPayload([]string{"chat/*"}, `{"name":"ada"}`)
	watcher := withPayload([]string{"presence/chat/*"}, "")
	lobbyOnly := withPayload([]string{"presence/chat/lobby"}, "")

	for _, c := range []struct {
		name, target string
		header       http.Header
		status       int
	}{
		{"list without a token", "/presence?topic=chat/lobby", nil, 401},
		{"list with a bad token", "/presence?topic=chat/lobby", bearer("x.y.z"), 401},
		{"list with a token for the topic only", "/presence?topic=chat/lobby", bearer(member), 403},
		{"list beyond the token's pattern", "/presence?topic=chat/**", bearer(watcher), 403},
		{"list a pattern with a topic's token", "/presence?topic=chat/*", bearer(lobbyOnly), 403},
		{"watch without a token", "/events?topic=presence/chat/lobby", nil, 401},
		{"watch beyond the token", "/events?topic=presence/chat/**", bearer(watcher), 403},
		{"payload parameter with auth on", "/events?topic=chat/lobby&payload=%7B%7D", bearer(member), 400},
	} {
		if status, _, msg := do(t, e, "GET", c.target, c.header, ""); status != c.status || msg == "" {
			t.Errorf("%s: %d %q, want %d with a JSON error", c.name, status, msg, c.status)
		}
	}

	_, watch := e.subscribe(t, "topic=presence/chat/*", bearer(watcher))
	e.subscribe(t, "topic=chat/lobby", bearer(member))
	typ, s := nextPresence(t, watch)
	if typ != api.TypeJoin || string(s.Payload) != `{"name":"ada"}` {
		t.Fatalf("join: %s %+v, want the token's payload", typ, s)
	}
	if got := e.list(t, "topic=chat/lobby", bearer(lobbyOnly)); got.Count != 1 || string(got.Subscribers[0].Payload) != `{"name":"ada"}` {
		t.Errorf("listed with a token for presence/chat/lobby: %+v", got)
	}
	if got := e.list(t, "topic=chat/*&access_token="+watcher, nil); got.Count != 1 {
		t.Errorf("listed with the token in access_token: %+v", got)
	}
}

// TestPresenceMetrics: /metrics counts the node's and the cluster's
// subscriptions in presence.
func TestPresenceMetrics(t *testing.T) {
	e := newPresenceEnv(t, server.Options{})
	e.subscribe(t, "topic=a", nil)
	e.subscribe(t, "topic=b&topic=c", nil)
	e.subscribe(t, "topic=presence/a", nil) // a watcher: not recorded
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 3 })
	resp, err := http.Get(e.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, want := range []string{"\nherald_presence_subscriptions 2\n", "\nherald_presence_cluster_subscriptions 2\n"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", strings.TrimSpace(want))
		}
	}
}
