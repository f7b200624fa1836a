package apps_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
)

// fast returns options with millisecond timings, so streams and tasks run
// quickly over real HTTP.
func fast() apps.Options {
	return apps.Options{
		StreamInterval:   5 * time.Millisecond,
		AdvancedInterval: 5 * time.Millisecond,
		IDInterval:       5 * time.Millisecond,
		TaskStep:         5 * time.Millisecond,
	}
}

// newHub returns a hub with its defaults (an in-memory history), closed when
// the test ends.
func newHub(t *testing.T) *hub.Hub {
	t.Helper()
	return newHubWith(t, hub.Options{})
}

// newHubWith returns a hub with opts on an in-memory history, closed when
// the test ends.
func newHubWith(t *testing.T, opts hub.Options) *hub.Hub {
	t.Helper()
	opts.Log = memory.New(memory.Options{})
	h, err := hub.New(opts)
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub Close: %v", err)
		}
	})
	return h
}

// newApps returns apps on opts.Hub, or on a new hub when it is nil. The apps
// are closed when the test ends, then the hub.
func newApps(t *testing.T, opts apps.Options) *apps.Apps {
	t.Helper()
	if opts.Hub == nil {
		opts.Hub = newHub(t)
	}
	a, err := apps.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return a
}

// serve serves h on a loopback httptest server closed when the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// testCtx bounds a test's requests, so that a stream that never ends fails
// the test instead of hanging it.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// subscribe opens the event stream at url with the given request headers,
// checks that it is one, and returns a decoder over its body, which is closed
// when the test ends.
func subscribe(ctx context.Context, t *testing.T, url string, header http.Header) *sse.Decoder {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: status %d %s, want 200", url, resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("GET %s: Content-Type %q, want text/event-stream", url, ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-cache" {
		t.Errorf("GET %s: Cache-Control %q, want no-cache", url, cc)
	}
	return sse.NewDecoder(resp.Body)
}

// next reads the next event, failing the test on an error.
func next(t *testing.T, dec *sse.Decoder) sse.Event {
	t.Helper()
	ev, err := dec.Next()
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return ev
}

// decodeStrict decodes data into v, failing the test when data is not one
// JSON object with exactly the fields of v.
func decodeStrict(t *testing.T, data string, v any) {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal([]byte(data), &fields); err != nil {
		t.Fatalf("data %q: %v", data, err)
	}
	if want := countFields(v); len(fields) != want {
		t.Fatalf("data %q has %d fields, want %d", data, len(fields), want)
	}
}

func countFields(v any) int {
	b, _ := json.Marshal(v)
	var m map[string]json.RawMessage
	_ = json.Unmarshal(b, &m)
	return len(m)
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixMicro()) / 1e6 }

func TestStream(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	before := time.Now().Add(-time.Second)
	dec := subscribe(testCtx(t), t, ts.URL+"/stream", nil)
	for want := 1; want <= 3; want++ {
		ev := next(t, dec)
		if ev.Type != "" || ev.ID != "" {
			t.Errorf("event %d: type %q, id %q; want an unnamed event without ID", want, ev.Type, ev.ID)
		}
		var data struct {
			Count int     `json:"count"`
			Time  float64 `json:"time"`
		}
		decodeStrict(t, ev.Data, &data)
		if data.Count != want {
			t.Errorf("event %d: count %d, want %d", want, data.Count, want)
		}
		if now := unixSeconds(time.Now().Add(time.Second)); data.Time < unixSeconds(before) || data.Time > now {
			t.Errorf("event %d: time %f, want between %f and %f", want, data.Time, unixSeconds(before), now)
		}
	}
}

func TestAdvancedStream(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	dec := subscribe(testCtx(t), t, ts.URL+"/advanced-stream", nil)
	for n := 1; n <= 4; n++ {
		ev := next(t, dec)
		if n%2 == 0 {
			if ev.Type != "counter" {
				t.Fatalf("event %d: type %q, want counter", n, ev.Type)
			}
			var data struct {
				Count int `json:"count"`
			}
			decodeStrict(t, ev.Data, &data)
			if data.Count != n {
				t.Errorf("event %d: count %d, want %d", n, data.Count, n)
			}
			continue
		}
		if ev.Type != "time" {
			t.Fatalf("event %d: type %q, want time", n, ev.Type)
		}
		var data struct {
			Time float64 `json:"time"`
		}
		decodeStrict(t, ev.Data, &data)
		if diff := unixSeconds(time.Now()) - data.Time; diff < -1 || diff > 5 {
			t.Errorf("event %d: time %f is %fs away from now", n, data.Time, diff)
		}
	}
}

// idMessage checks that ev is event n of /stream-with-id.
func idMessage(t *testing.T, ev sse.Event, n string) {
	t.Helper()
	var data struct {
		Message string `json:"message"`
	}
	decodeStrict(t, ev.Data, &data)
	if ev.ID != n || ev.Type != "" || data.Message != "Update #"+n {
		t.Errorf("event = id %q, type %q, message %q; want id %q, no type, message %q", ev.ID, ev.Type, data.Message, n, "Update #"+n)
	}
}

func TestStreamWithID(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	dec := subscribe(testCtx(t), t, ts.URL+"/stream-with-id", nil)
	for _, n := range []string{"1", "2", "3"} {
		idMessage(t, next(t, dec), n)
	}
	if got := dec.LastEventID(); got != "3" {
		t.Errorf("LastEventID() = %q, want 3", got)
	}
}

// TestStreamWithIDFraming reads the bytes of the first event: the framing
// the tutorial writes by hand.
func TestStreamWithIDFraming(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	req, _ := http.NewRequestWithContext(testCtx(t), http.MethodGet, ts.URL+"/stream-with-id", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	var got strings.Builder
	for !strings.HasSuffix(got.String(), "\n\n") {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %q: %v", got.String(), err)
		}
		got.WriteString(line)
	}
	if want := "id: 1\ndata: {\"message\": \"Update #1\"}\n\n"; got.String() != want {
		t.Errorf("first event = %q, want %q", got.String(), want)
	}
}

func TestStreamWithIDResumes(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	tests := []struct {
		name   string
		query  string
		header string
		first  string
		second string
	}{
		{name: "header", header: "5", first: "6", second: "7"},
		{name: "zero", header: "0", first: "1", second: "2"},
		{name: "leading_zeros", header: "007", first: "8", second: "9"},
		{name: "query", query: "?lastEventId=41", first: "42", second: "43"},
		{name: "header_beats_query", query: "?lastEventId=41", header: "99", first: "100", second: "101"},
		{name: "largest", header: "9007199254740990", first: "9007199254740991", second: "9007199254740992"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			if tt.header != "" {
				h.Set("Last-Event-ID", tt.header)
			}
			dec := subscribe(testCtx(t), t, ts.URL+"/stream-with-id"+tt.query, h)
			idMessage(t, next(t, dec), tt.first)
			idMessage(t, next(t, dec), tt.second)
		})
	}
}

func TestStreamWithIDMalformedRestarts(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	for _, id := range []string{
		"abc", "-5", "+5", "1e3", "0x10", "5.0", "5 6", "１２",
		"9007199254740992",        // past JavaScript's largest safe integer
		"99999999999999999999",    // past int64
		strings.Repeat("7", 4096), // very long
	} {
		name := id
		if len(name) > 24 {
			name = name[:24] + "..."
		}
		t.Run(name, func(t *testing.T) {
			h := http.Header{"Last-Event-Id": {id}}
			dec := subscribe(testCtx(t), t, ts.URL+"/stream-with-id", h)
			idMessage(t, next(t, dec), "1")
			idMessage(t, next(t, dec), "2")
		})
	}
}

// do sends a request without a body and returns the response and its body.
func do(ctx context.Context, t *testing.T, method, url string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, string(body)
}

// checkJSONError checks that resp is a JSON error with the given status.
func checkJSONError(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("%s %s: status %d, want %d", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("%s %s: Content-Type %q, want application/json", resp.Request.Method, resp.Request.URL.Path, ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	decodeStrict(t, body, &e)
	if e.Error == "" {
		t.Errorf("%s %s: empty error in %s", resp.Request.Method, resp.Request.URL.Path, body)
	}
}

func TestNotFound(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	for _, path := range []string{
		"/task-progress/unknown",                    // well formed, never started
		"/task-progress/" + strings.Repeat("A", 26), // as Start spells them
		"/task-progress/not-an-id",                  // not a task ID at all
		"/task-progress/" + strings.Repeat("A", 65), // too long
		"/task-progress/a%2Fb",                      // a topic separator
		"/nothing-here",
		"/apps/nothing-here",
		"/static/",
		"/static/nothing-here.css",
		"/static/%2e%2e/layout.html",
	} {
		t.Run(path, func(t *testing.T) {
			resp, body := do(ctx, t, http.MethodGet, ts.URL+path)
			checkJSONError(t, resp, body, http.StatusNotFound)
		})
	}
}

func TestWrongMethod(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	tests := []struct {
		method, path, allow string
	}{
		{http.MethodGet, "/start-task", "POST"},
		{http.MethodPut, "/start-task", "POST"},
		{http.MethodPost, "/stream", "GET, HEAD"},
		{http.MethodPost, "/advanced-stream", "GET, HEAD"},
		{http.MethodDelete, "/stream-with-id", "GET, HEAD"},
		{http.MethodDelete, "/task-progress/x", "GET, HEAD"},
		{http.MethodPost, "/task-progress/x", "GET, HEAD"},
		{http.MethodPost, "/", "GET, HEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.method+tt.path, func(t *testing.T) {
			resp, body := do(ctx, t, tt.method, ts.URL+tt.path)
			checkJSONError(t, resp, body, http.StatusMethodNotAllowed)
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow: %q, want %q", got, tt.allow)
			}
		})
	}
}

func TestHeadStream(t *testing.T) {
	opts := fast()
	opts.StreamInterval = time.Hour
	ts := serve(t, newApps(t, opts).Handler())
	// A HEAD request gets the stream's headers and ends at once, instead of
	// holding a handler that can write nothing.
	resp, body := do(testCtx(t), t, http.MethodHead, ts.URL+"/stream")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" || body != "" {
		t.Errorf("HEAD /stream: %d %q %q, want 200 text/event-stream and no body", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

func TestNewRejectsInvalidOptions(t *testing.T) {
	h := newHub(t)
	for _, opts := range []apps.Options{
		{},
		{Hub: h, StreamInterval: -time.Second},
		{Hub: h, AdvancedInterval: -1},
		{Hub: h, IDInterval: -1},
		{Hub: h, TaskStep: -1},
		{Hub: h, TaskConcurrency: -1},
		{Hub: h, MaxTasks: -1},
	} {
		if _, err := apps.New(opts); !errors.Is(err, apps.ErrInvalidOptions) {
			t.Errorf("New(%+v) = %v, want ErrInvalidOptions", opts, err)
		}
	}
}

// handlerTracker wraps a handler and reports each request's path when its
// handler returns, to prove that a stream's goroutine has ended.
type handlerTracker struct {
	h        http.Handler
	returned chan string
	early    map[string]int // returned paths read while waiting for another; test goroutine only
}

func track(h http.Handler) *handlerTracker {
	return &handlerTracker{h: h, returned: make(chan string, 16), early: make(map[string]int)}
}

func (ht *handlerTracker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() { ht.returned <- r.URL.Path }()
	ht.h.ServeHTTP(w, r)
}

// waitReturned waits until a handler of path has returned.
func (ht *handlerTracker) waitReturned(t *testing.T, path string) {
	t.Helper()
	if ht.early[path] > 0 {
		ht.early[path]--
		return
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case p := <-ht.returned:
			if p == path {
				return
			}
			ht.early[p]++
		case <-timeout:
			t.Fatalf("the handler of %s has not returned", path)
		}
	}
}

// checkRunning fails the test if a handler has returned that has not been
// waited for.
func (ht *handlerTracker) checkRunning(t *testing.T) {
	t.Helper()
	select {
	case p := <-ht.returned:
		t.Fatalf("handler of %s returned while its client was connected", p)
	default:
	}
	for p, n := range ht.early {
		if n > 0 {
			t.Fatalf("handler of %s returned while its client was connected", p)
		}
	}
}

// slow returns options whose streams and tasks never advance during a test,
// so that only a disconnect or Close can end them.
func slow() apps.Options {
	return apps.Options{StreamInterval: time.Hour, AdvancedInterval: time.Hour, IDInterval: time.Hour, TaskStep: time.Hour}
}

func TestClientDisconnectEndsHandler(t *testing.T) {
	a := newApps(t, slow())
	ht := track(a.Handler())
	ts := serve(t, ht)
	id := startTask(testCtx(t), t, ts.URL)
	ht.waitReturned(t, "/start-task")

	for _, path := range []string{"/stream", "/advanced-stream", "/stream-with-id", "/task-progress/" + id} {
		t.Run(path, func(t *testing.T) {
			ctx, cancel := context.WithCancel(testCtx(t))
			dec := subscribe(ctx, t, ts.URL+path, nil)
			next(t, dec) // the handler is in its loop
			ht.checkRunning(t)
			cancel() // the client goes away
			ht.waitReturned(t, path)
		})
	}
}

// TestCloseEndsStreams closes the apps while a counting stream and a task's
// progress stream are open: the first ends, the task is cancelled and its
// stream ends after saying so.
func TestCloseEndsStreams(t *testing.T) {
	opts := slow()
	opts.Hub = newHub(t)
	a, err := apps.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ht := track(a.Handler())
	ts := serve(t, ht)
	ctx := testCtx(t)
	id := startTask(ctx, t, ts.URL)
	ht.waitReturned(t, "/start-task")
	counter := subscribe(ctx, t, ts.URL+"/stream", nil)
	next(t, counter)
	task := subscribe(ctx, t, ts.URL+"/task-progress/"+id, nil)
	next(t, task)

	if err := a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if ev, err := counter.Next(); !errors.Is(err, io.EOF) {
		t.Errorf("/stream after Close: Next() = %v, %v; want io.EOF", ev, err)
	}
	states := readProgress(t, task)
	if len(states) == 0 || states[len(states)-1] != (progress{"cancelled", 0}) {
		t.Errorf("/task-progress after Close: %v, want to end with {cancelled 0}", states)
	}
	ht.waitReturned(t, "/stream")
	ht.waitReturned(t, "/task-progress/"+id)
	if err := a.Close(ctx); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// Closed apps refuse new streams and tasks, and still serve pages.
	for _, req := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/stream", http.StatusServiceUnavailable},
		{"POST", "/start-task", http.StatusServiceUnavailable},
		{"GET", "/task-progress/" + id, http.StatusServiceUnavailable},
	} {
		resp, body := do(ctx, t, req.method, ts.URL+req.path)
		checkJSONError(t, resp, body, req.status)
	}
	if resp, _ := do(ctx, t, "GET", ts.URL+"/"); resp.StatusCode != http.StatusOK {
		t.Errorf("GET / after Close: status %d, want 200", resp.StatusCode)
	}
}

// TestHubCloseEndsProgressStream closes the hub under an open progress
// stream: it is a subscription, so it ends with the hub.
func TestHubCloseEndsProgressStream(t *testing.T) {
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	opts := slow()
	opts.Hub = h
	a := newApps(t, opts)
	ts := serve(t, a.Handler())
	ctx := testCtx(t)
	id := startTask(ctx, t, ts.URL)
	dec := subscribe(ctx, t, ts.URL+"/task-progress/"+id, nil)
	next(t, dec)
	if err := h.Close(ctx); err != nil {
		t.Fatalf("hub Close: %v", err)
	}
	for {
		_, err := dec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("after the hub closed: %v, want io.EOF", err)
		}
	}
}

// TestRoutes checks that Routes lists the tutorial's routes, the pages and
// the exercises' routes once each, every one with its method, and that
// each is served: a request for it gets neither the 404 of an unknown path
// nor a 405.
func TestRoutes(t *testing.T) {
	a := newApps(t, fast())
	srv := serve(t, a.Handler())
	routes := a.Routes()
	seen := map[string]bool{}
	for _, r := range routes {
		if seen[r] {
			t.Errorf("Routes() lists %q twice", r)
		}
		seen[r] = true
	}
	for _, want := range []string{
		"GET /{$}", "GET /apps/counter", "GET /static/",
		"GET /stream", "GET /advanced-stream", "GET /stream-with-id",
		"POST /start-task", "GET /task-progress/{task_id}",
		"POST /chat/messages", "GET /chat/history", "GET /metrics/history",
		"GET /stocks/symbols", "DELETE /tasks/{id}", "GET /task-events",
		"GET /reconnect/stream", "POST /reconnect/drop",
	} {
		if !seen[want] {
			t.Errorf("Routes() lacks %q; got %q", want, routes)
		}
	}
	// HEAD stands for GET: a stream answers its headers and ends.
	sample := strings.NewReplacer("{$}", "", "{task_id}", "X", "{id}", "X")
	for _, r := range routes {
		method, path, ok := strings.Cut(r, " ")
		if !ok {
			t.Errorf("route %q names no method", r)
			continue
		}
		if method == http.MethodGet {
			method = http.MethodHead
		}
		resp, body := do(testCtx(t), t, method, srv.URL+sample.Replace(path))
		if resp.StatusCode == http.StatusMethodNotAllowed || strings.Contains(body, "no route for") {
			t.Errorf("%s %s (route %q) = %d %s: not served", method, path, r, resp.StatusCode, body)
		}
	}
}
