package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

type env struct {
	hub *hub.Hub
	srv *server.Server
	ts  *httptest.Server
}

// newEnv serves a server made with sopts on a hub made with hopts, on a
// memory log when hopts.Log is nil, and closes them at the end of the test.
func newEnv(t testing.TB, hopts hub.Options, sopts server.Options) *env {
	t.Helper()
	if hopts.Log == nil {
		l := memory.New(memory.Options{})
		t.Cleanup(func() { l.Close() }) // after the hub's Close, registered below
		hopts.Log = l
	}
	h, err := hub.New(hopts)
	if err != nil {
		t.Fatal(err)
	}
	sopts.Hub = h
	srv, err := server.New(sopts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub.Close: %v", err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server.Close: %v", err)
		}
		ts.Close()
	})
	return &env{h, srv, ts}
}

func (e *env) post(t testing.TB, contentType, body string) (int, map[string]string) {
	t.Helper()
	resp, err := http.Post(e.ts.URL+"/events", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("response to POST %.80q is not JSON: %v", body, err)
	}
	return resp.StatusCode, out
}

// subscribe opens a stream and returns a decoder over it.
func (e *env) subscribe(t testing.TB, query string, header http.Header) (*http.Response, *sse.Decoder) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, e.ts.URL+"/events?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, sse.NewDecoder(resp.Body)
}

func next(t testing.TB, d *sse.Decoder) sse.Event {
	t.Helper()
	ev, err := d.Next()
	if err != nil {
		t.Fatalf("reading the stream: %v", err)
	}
	return ev
}

func TestPublishAndSubscribe(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	resp, dec := e.subscribe(t, "topic=chat/lobby&topic=news/*", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("subscribe: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	tests := []struct {
		name, contentType, body string
		wantType, wantData      string
	}{
		{"json string data", "application/json", `{"topic":"chat/lobby","type":"message","data":"hello\nworld"}`, "message", "hello\nworld"},
		{"json object data is compacted", "application/json", `{"topic":"news/today","data": {"a": [1, 2],  "b": "c"}}`, "", `{"a":[1,2],"b":"c"}`},
		{"json number data", "application/json; charset=utf-8", `{"topic":"chat/lobby","data":42}`, "", "42"},
		{"form", "application/x-www-form-urlencoded", url.Values{"topic": {"chat/lobby"}, "type": {"note"}, "data": {"from a form"}}.Encode(), "note", "from a form"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.post(t, tt.contentType, tt.body)
			if status != http.StatusCreated || out["id"] == "" {
				t.Fatalf("POST = %d %v, want 201 with an id", status, out)
			}
			ev := next(t, dec)
			if ev.ID != out["id"] || ev.Type != tt.wantType || ev.Data != tt.wantData {
				t.Errorf("received %+v, want id %s type %q data %q", ev, out["id"], tt.wantType, tt.wantData)
			}
		})
	}
	if r, ok := dec.Retry(); !ok || r != 3*time.Second {
		t.Errorf("retry on open = %v %v, want 3s", r, ok)
	}
}

// TestErrorMessages pins the exact body herald's API answers for a few
// refusals, byte for byte: a wildcard topic, a malformed pattern, a
// reserved type, data over the hub's limit, and too many topics. Each
// says the thing refused and the reason once.
func TestErrorMessages(t *testing.T) {
	e := newEnv(t, hub.Options{MaxDataSize: 8, MaxTopics: 2}, server.Options{})
	tests := []struct {
		name, method, target, body string
		status                     int
		want                       string
	}{
		{"wildcard topic", "POST", "/events", `{"topic":"chat/*","data":"x"}`, 400,
			`{"error":"hub: invalid topic \"chat/*\": '*' is a wildcard, for subscribing only"}`},
		{"malformed pattern", "GET", "/events?topic=a/**/b", "", 400,
			`{"error":"hub: invalid pattern \"a/**/b\": '**' before the last segment"}`},
		{"reserved type", "POST", "/events", `{"topic":"chat","type":"herald:gap"}`, 400,
			`{"error":"hub: invalid message: type \"herald:gap\" is reserved (types starting with \"herald:\" belong to the hub)"}`},
		{"data too large", "POST", "/events", `{"topic":"chat","data":"123456789"}`, 413,
			`{"error":"hub: data too large: 9 bytes, limit 8"}`},
		{"too many topics", "GET", "/events?topic=a&topic=b&topic=c", "", 400,
			`{"error":"hub: too many topics: 3, limit 2"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), tt.method, e.ts.URL+tt.target, strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || string(body) != tt.want+"\n" || resp.Header.Get("Content-Type") != "application/json" {
				t.Errorf("%s %s = %d %s %q\nwant %d application/json %s", tt.method, tt.target, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.want)
			}
		})
	}
}

// TestBadInput names each bad request tried; each must get a 4xx with a
// JSON error, and none may disturb a subscriber.
func TestBadInput(t *testing.T) {
	e := newEnv(t, hub.Options{MaxDataSize: 1000}, server.Options{MaxBodyBytes: 4096})
	_, watcher := e.subscribe(t, "topic=**", nil)

	posts := []struct {
		name, contentType, body string
		status                  int
	}{
		{"malformed JSON", "application/json", `{"topic": "a", `, 400},
		{"not an object", "application/json", `["a"]`, 400},
		{"two values", "application/json", `{"topic":"a"} {"topic":"b"}`, 400},
		{"unknown field id", "application/json", `{"topic":"a","id":"x\ny"}`, 400},
		{"no topic", "application/json", `{"data":"x"}`, 400},
		{"empty topic", "application/json", `{"topic":""}`, 400},
		{"empty segment", "application/json", `{"topic":"a//b"}`, 400},
		{"trailing slash", "application/json", `{"topic":"a/"}`, 400},
		{"double star not at end", "application/json", `{"topic":"a/**/b"}`, 400},
		{"wildcard in publish topic", "application/json", `{"topic":"a/*"}`, 400},
		{"control character in topic", "application/json", `{"topic":"a\u0001b"}`, 400},
		{"newline in topic", "application/json", `{"topic":"a\nb"}`, 400},
		{"topic over 256 bytes", "application/json", `{"topic":"` + strings.Repeat("x", 257) + `"}`, 400},
		{"type with LF", "application/json", `{"topic":"a","type":"x\ny"}`, 400},
		{"type with CR", "application/json", `{"topic":"a","type":"x\ry"}`, 400},
		{"reserved type", "application/json", `{"topic":"a","type":"herald:gap"}`, 400},
		{"negative retry", "application/json", `{"topic":"a","retry":-5}`, 400},
		{"retry not a number", "application/json", `{"topic":"a","retry":"soon"}`, 400},
		{"data over the limit", "application/json", `{"topic":"a","data":"` + strings.Repeat("x", 1001) + `"}`, 413},
		{"body over the limit", "application/json", `{"topic":"a","data":"` + strings.Repeat("x", 5000) + `"}`, 413},
		{"unsupported content type", "text/plain", `topic=a`, 415},
		{"malformed content type", "application/json; ===", `{"topic":"a"}`, 415},
		{"form without topic", "application/x-www-form-urlencoded", `data=x`, 400},
		{"form with bad retry", "application/x-www-form-urlencoded", `topic=a&retry=x`, 400},
	}
	for _, tt := range posts {
		t.Run("POST "+tt.name, func(t *testing.T) {
			status, out := e.post(t, tt.contentType, tt.body)
			if status != tt.status || out["error"] == "" {
				t.Errorf("POST %s = %d %v, want %d with a JSON error", tt.name, status, out, tt.status)
			}
		})
	}

	many := strings.Repeat("topic=t&", 100)
	gets := []struct {
		name, query string
		status      int
	}{
		{"no topic", "", 400},
		{"100 topics", many, 400},
		{"bad pattern", "topic=a/**/b", 400},
		{"empty pattern", "topic=", 400},
	}
	for _, tt := range gets {
		t.Run("GET "+tt.name, func(t *testing.T) {
			resp, err := http.Get(e.ts.URL + "/events?" + tt.query)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkJSONError(t, resp, tt.status)
		})
	}

	for _, method := range []string{http.MethodPut, http.MethodDelete, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			req, _ := http.NewRequest(method, e.ts.URL+"/events?topic=a", strings.NewReader(`{"topic":"a"}`))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkJSONError(t, resp, http.StatusMethodNotAllowed)
			if resp.Header.Get("Allow") == "" {
				t.Error("405 without an Allow header")
			}
		})
	}
	t.Run("GET with a body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, e.ts.URL+"/events?topic=a", strings.NewReader("body"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		checkJSONError(t, resp, http.StatusBadRequest)
	})

	// The watcher saw none of it: the next event it gets is this one.
	status, out := e.post(t, "application/json", `{"topic":"ok","data":"fine"}`)
	if status != 201 {
		t.Fatalf("good publish after bad ones: %d %v", status, out)
	}
	if ev := next(t, watcher); ev.Data != "fine" || ev.ID != out["id"] {
		t.Errorf("watcher got %+v, want only the good event", ev)
	}
}

func checkJSONError(t *testing.T, resp *http.Response, status int) {
	t.Helper()
	var out map[string]string
	err := json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != status || err != nil || out["error"] == "" {
		t.Errorf("%s %s = %d (JSON error %q, decode err %v), want %d with a JSON error",
			resp.Request.Method, resp.Request.URL, resp.StatusCode, out["error"], err, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("error Content-Type = %q, want application/json", ct)
	}
}

// TestLogUnavailable checks that when the hub's log cannot serve (here,
// closed under it) publishing and resuming answer 503 with a JSON error.
func TestLogUnavailable(t *testing.T) {
	log := memory.New(memory.Options{})
	e := newEnv(t, hub.Options{Log: log}, server.Options{})
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	if status, out := e.post(t, "application/json", `{"topic":"a","data":"x"}`); status != http.StatusServiceUnavailable || out["error"] == "" {
		t.Errorf("POST /events on a closed log = %d %v, want 503 with a JSON error", status, out)
	}
	resp, _ := e.subscribe(t, "topic=a", http.Header{"Last-Event-Id": {"1-1"}})
	checkJSONError(t, resp, http.StatusServiceUnavailable)
}

// busyLog is a memory log that pushes back on every append, as a log
// does when dispatch is a full transport behind (store.ErrBusy).
type busyLog struct{ *memory.Log }

func (busyLog) Append(ctx context.Context, e store.Entry) (store.Entry, error) {
	return store.Entry{}, fmt.Errorf("busy log: append to %q: %w", e.Topic, store.ErrBusy)
}

// TestPublishBusy checks that a log pushing back reaches the publisher as
// 503 with Retry-After, so it retries shortly, rather than as a failure.
func TestPublishBusy(t *testing.T) {
	log := memory.New(memory.Options{})
	t.Cleanup(func() { log.Close() })
	e := newEnv(t, hub.Options{Log: busyLog{log}}, server.Options{})
	resp, err := http.Post(e.ts.URL+"/events", "application/json", strings.NewReader(`{"topic":"a","data":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	_ = json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") != "1" || !strings.Contains(out["error"], "busy") {
		t.Errorf("POST /events to a busy log = %d, Retry-After %q, %v; want 503, 1, a JSON error saying busy",
			resp.StatusCode, resp.Header.Get("Retry-After"), out)
	}
}

func TestResumeWithLastEventID(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	var ids []string
	for i := range 5 {
		_, out := e.post(t, "application/json", fmt.Sprintf(`{"topic":"a","data":"%d"}`, i))
		ids = append(ids, out["id"])
	}
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			query, header := "topic=a", http.Header{}
			if how == "header" {
				header.Set("Last-Event-ID", ids[1])
			} else {
				query += "&lastEventId=" + url.QueryEscape(ids[1])
			}
			_, dec := e.subscribe(t, query, header)
			for i := 2; i < 5; i++ {
				if ev := next(t, dec); ev.ID != ids[i] || ev.Data != fmt.Sprint(i) {
					t.Fatalf("replayed %+v, want id %s data %d", ev, ids[i], i)
				}
			}
		})
	}
	for _, bad := range []string{"not-an-id", "12345", "1-1-1", strings.Repeat("9", 300)} {
		t.Run("gap for "+bad[:min(len(bad), 12)], func(t *testing.T) {
			_, dec := e.subscribe(t, "topic=a", http.Header{"Last-Event-Id": {bad}})
			ev := next(t, dec)
			if ev.Type != hub.TypeGap || !strings.Contains(ev.Data, `"reason":"unknown"`) {
				t.Fatalf("first event %+v, want a herald:gap with reason unknown", ev)
			}
			if ev := next(t, dec); ev.ID != ids[0] {
				t.Errorf("after the gap got %+v, want history from %s", ev, ids[0])
			}
		})
	}
}

// TestFromStart checks ?from=start: a subscriber gets the topics' history,
// then a herald:replayed notice, then live events; a Last-Event-ID (a
// browser reconnecting with the same URL) resumes after its ID instead;
// and any other value of from is a 400 with a JSON body. Bad values tried:
// "end", "", "START", from given twice.
func TestFromStart(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	var ids []string
	for i := range 3 {
		_, out := e.post(t, "application/json", fmt.Sprintf(`{"topic":"tasks/1","data":"%d"}`, i))
		ids = append(ids, out["id"])
	}
	e.post(t, "application/json", `{"topic":"tasks/2","data":"other"}`)

	_, dec := e.subscribe(t, "topic=tasks/1&from=start", nil)
	for i := range 3 {
		if ev := next(t, dec); ev.ID != ids[i] || ev.Data != fmt.Sprint(i) {
			t.Fatalf("history event %d = %+v, want id %s data %d", i, ev, ids[i], i)
		}
	}
	if ev := next(t, dec); ev.Type != hub.TypeReplayed || ev.Data != `{"count":3}` {
		t.Fatalf("after the history got %+v, want herald:replayed with count 3", ev)
	}
	_, out := e.post(t, "application/json", `{"topic":"tasks/1","data":"live"}`)
	if ev := next(t, dec); ev.ID != out["id"] || ev.Data != "live" {
		t.Fatalf("live event = %+v, want id %s data live", ev, out["id"])
	}

	_, dec = e.subscribe(t, "topic=tasks/1&from=start", http.Header{"Last-Event-Id": {ids[1]}})
	if ev := next(t, dec); ev.ID != ids[2] {
		t.Fatalf("resumed with Last-Event-ID %s: first event %+v, want %s", ids[1], ev, ids[2])
	}

	for _, bad := range []string{"from=end", "from=", "from=START", "from=start&from=start"} {
		t.Run(bad, func(t *testing.T) {
			resp, err := http.Get(e.ts.URL + "/events?topic=tasks/1&" + bad)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			checkJSONError(t, resp, http.StatusBadRequest)
		})
	}
}

func TestSubscriberLimits(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{MaxSubscribers: 3, MaxSubscribersPerClient: 2})
	for range 2 {
		if resp, _ := e.subscribe(t, "topic=a", nil); resp.StatusCode != 200 {
			t.Fatalf("subscribe = %d, want 200", resp.StatusCode)
		}
	}
	resp, err := http.Get(e.ts.URL + "/events?topic=a")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	checkJSONError(t, resp, http.StatusTooManyRequests)
	if n := e.srv.Streams(); n != 2 {
		t.Errorf("Streams() = %d, want 2", n)
	}
}

func TestHealth(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(e.ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("GET %s = %d, want 200", path, resp.StatusCode)
		}
	}
	e.srv.Drain()
	resp, err := http.Get(e.ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	checkJSONError(t, resp, http.StatusServiceUnavailable)
	resp.Body.Close()
	if err := e.hub.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	resp, err = http.Get(e.ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	checkJSONError(t, resp, http.StatusServiceUnavailable)
}

// TestReadOnlyRoutes checks that /healthz, /readyz and /metrics answer GET
// and HEAD, and every other method 405 with Allow: GET, HEAD and a JSON
// error, through the server and through the routes Handle mounts.
func TestReadOnlyRoutes(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	mux := http.NewServeMux()
	e.srv.Handle(mux)
	mounted := httptest.NewServer(mux)
	t.Cleanup(mounted.Close)
	for _, base := range []struct{ name, url string }{{"Server", e.ts.URL}, {"Handle", mounted.URL}} {
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions, "QUERY"} {
				t.Run(base.name+" "+method+" "+path, func(t *testing.T) {
					req, err := http.NewRequest(method, base.url+path, nil)
					if err != nil {
						t.Fatal(err)
					}
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					defer resp.Body.Close()
					if method == http.MethodGet || method == http.MethodHead {
						if resp.StatusCode != http.StatusOK {
							t.Errorf("%s %s = %d, want 200", method, path, resp.StatusCode)
						}
						return
					}
					checkJSONError(t, resp, http.StatusMethodNotAllowed)
					if allow := resp.Header.Get("Allow"); allow != "GET, HEAD" {
						t.Errorf("%s %s: Allow = %q, want \"GET, HEAD\"", method, path, allow)
					}
				})
			}
		}
	}
}

// TestRoutes checks that Routes lists every path the API serves, each
// answering something other than the 404 of a path it does not serve.
func TestRoutes(t *testing.T) {
	e := newEnv(t, hub.Options{Presence: newRegistry(t), PresenceEvents: server.PresenceEvents}, server.Options{})
	want := []string{"/events", "/presence", "/healthz", "/readyz", "/metrics"}
	if got := e.srv.Routes(); !slices.Equal(got, want) {
		t.Fatalf("Routes() = %q, want %q", got, want)
	}
	for _, p := range e.srv.Routes() {
		resp, err := http.Head(e.ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusNotFound {
			t.Errorf("HEAD %s = 404: Routes lists a path the server does not serve", p)
		}
	}
}

// TestClientGoneFreesStream shows a subscriber that disconnects is
// unregistered: its handler returned.
func TestClientGoneFreesStream(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	conn, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n\r\n")
	br := bufio.NewReader(conn)
	if line, _ := br.ReadString('\n'); !strings.Contains(line, "200") {
		t.Fatalf("status line %q", line)
	}
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })
	conn.Close()
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 0 && e.srv.Streams() == 0 })
}

// TestShutdownSendsRetry shows that closing the hub ends each stream with
// a retry hint no shorter than the configured one.
func TestShutdownSendsRetry(t *testing.T) {
	e := newEnv(t, hub.Options{Retry: time.Second}, server.Options{})
	_, dec := e.subscribe(t, "topic=a", nil)
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })
	if _, err := e.hub.Publish(t.Context(), hub.Message{Topic: "a", Data: "last"}); err != nil {
		t.Fatal(err)
	}
	if err := e.hub.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if ev := next(t, dec); ev.Data != "last" {
		t.Errorf("got %+v, want the event published before shutdown", ev)
	}
	if _, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("after shutdown: %v, want EOF", err)
	}
	if r, _ := dec.Retry(); r < time.Second || r > 2*time.Second {
		t.Errorf("retry after shutdown = %v, want within [1s, 2s]", r)
	}
}

// waitFor polls cond until it holds; the deadline only bounds a failure.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	// A bound on a wait, not a timing assertion: generous, for a loaded
	// machine under -race.
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 30s")
		}
		time.Sleep(time.Millisecond)
	}
}
