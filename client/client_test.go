package client_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/client"
	"github.com/heraldsse/herald/internal/rawstream"
	"github.com/heraldsse/herald/sse"
)

// waits records the waits a Conn asks for, without spending them. It is
// safe for concurrent use.
type waits struct {
	mu  sync.Mutex
	got []time.Duration
	// stopAfter, when positive, makes the wait with that number end the
	// iteration as a cancelled context would.
	stopAfter int
}

// instant makes c record its waits in a new waits and return at once.
func instant(c *client.Conn) *waits {
	w := &waits{}
	client.SetSleep(c, func(ctx context.Context, d time.Duration) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.got = append(w.got, d)
		if w.stopAfter > 0 && len(w.got) >= w.stopAfter {
			return context.Canceled
		}
		return ctx.Err()
	})
	return w
}

func (w *waits) list() []time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.got)
}

// browserEvent turns a decoded event into what a browser reports.
func browserEvent(ev sse.Event) rawstream.Event {
	typ := ev.Type
	if typ == "" {
		typ = "message"
	}
	return rawstream.Event{ID: ev.ID, Type: typ, Data: ev.Data}
}

// collect runs c's iteration to its end and returns the events and the
// final error.
func collect(ctx context.Context, c *client.Conn) ([]rawstream.Event, error) {
	var got []rawstream.Event
	for ev, err := range c.Events(ctx) {
		if err != nil {
			return got, err
		}
		got = append(got, browserEvent(ev))
	}
	return got, nil
}

func newConn(t *testing.T, url string, opts client.Options) *client.Conn {
	t.Helper()
	c, err := client.New(url, opts)
	if err != nil {
		t.Fatalf("New(%q): %v", url, err)
	}
	return c
}

// serve starts an httptest server for h, closed when the test ends.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// wantRetry is the reconnection time a case's stream leaves the client
// with: the cases that reconnect ask for 20 ms; bogus retry fields must
// leave the default.
func wantRetry(c rawstream.Case) time.Duration {
	if strings.Contains(strings.Join(c.Responses[0].Chunks, ""), "retry: 20\n") {
		return 20 * time.Millisecond
	}
	return client.DefaultRetry
}

// TestEventsRawStreams reads each tricky stream to its 204 and checks the
// events, the requests' headers, the waits between connections, and the
// last event ID and retry the Conn ends with.
func TestEventsRawStreams(t *testing.T) {
	for _, tc := range rawstream.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			h := rawstream.NewHandler(tc)
			ts := serve(t, h)
			c := newConn(t, ts.URL, client.Options{})
			w := instant(c)

			got, err := collect(t.Context(), c)
			if err != nil {
				t.Fatalf("Events ended with %v, want nil after 204", err)
			}
			if want := tc.Want(); !slices.Equal(got, want) {
				t.Errorf("events:\n got %q\nwant %q", got, want)
			}
			for _, d := range h.Check() {
				t.Error(d)
			}
			for i, r := range h.Requests() {
				if r.Accept != "text/event-stream" || r.CacheControl != "no-cache" {
					t.Errorf("request %d: Accept %q, Cache-Control %q; want text/event-stream, no-cache", i+1, r.Accept, r.CacheControl)
				}
			}
			retry := wantRetry(tc)
			wantWaits := slices.Repeat([]time.Duration{retry}, len(tc.Responses))
			if got := w.list(); !slices.Equal(got, wantWaits) {
				t.Errorf("waits %v, want %v (the retry after each stream, no backoff)", got, wantWaits)
			}
			if got := c.Retry(); got != retry {
				t.Errorf("Retry() = %v, want %v", got, retry)
			}
			if got := c.LastEventID(); got != tc.EndLastEventID {
				t.Errorf("LastEventID() = %q, want %q", got, tc.EndLastEventID)
			}
		})
	}
}

// TestEventsNoReconnect reads the first response of each tricky stream
// with NoReconnect: a clean end ends the iteration without an error, a
// broken connection with one.
func TestEventsNoReconnect(t *testing.T) {
	for _, tc := range rawstream.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			h := rawstream.NewHandler(tc)
			ts := serve(t, h)
			c := newConn(t, ts.URL, client.Options{NoReconnect: true})
			w := instant(c)
			got, err := collect(t.Context(), c)
			first := tc.Responses[0]
			switch {
			case first.Abort && err == nil:
				t.Errorf("Events ended without an error, want the broken connection's")
			case first.Abort && !errors.Is(err, io.ErrUnexpectedEOF):
				t.Errorf("Events ended with %v, want io.ErrUnexpectedEOF", err)
			case !first.Abort && err != nil:
				t.Errorf("Events ended with %v, want nil", err)
			}
			if !slices.Equal(got, first.Want) {
				t.Errorf("events:\n got %q\nwant %q", got, first.Want)
			}
			if n := len(h.Requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			if got := w.list(); len(got) != 0 {
				t.Errorf("waited %v, want no wait", got)
			}
		})
	}
}

// script serves one response per request from a list of handlers, then
// 204, and counts the requests.
type script struct {
	mu       sync.Mutex
	steps    []http.HandlerFunc
	requests []*http.Request
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	n := len(s.requests)
	s.requests = append(s.requests, r.Clone(context.Background()))
	s.mu.Unlock()
	if n >= len(s.steps) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.steps[n](w, r)
}

func (s *script) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

func (s *script) header(i int, name string) (string, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.requests[i].Header[http.CanonicalHeaderKey(name)]
	if !ok {
		return "", false
	}
	return v[0], true
}

// stream answers 200 text/event-stream with body.
func stream(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}
}

// hangUp closes the connection without answering: a network failure.
func hangUp(w http.ResponseWriter, r *http.Request) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(err)
	}
	conn.Close()
}

// TestEventsFailsForGood checks that a status other than 200 and 204, or
// a response that is not text/event-stream, ends the source with an
// error and no reconnection, as in a browser, even after a stream that
// worked.
func TestEventsFailsForGood(t *testing.T) {
	respond := func(status int, ct, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if ct != "" {
				w.Header().Set("Content-Type", ct)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	tests := []struct {
		name       string
		steps      []http.HandlerFunc
		wantEvents int
		wantErr    error
		wantStatus int
		wantMsg    string // in the error's text
	}{
		{name: "500_json_error", steps: []http.HandlerFunc{respond(500, "application/json", `{"error": "store down"}`)},
			wantErr: client.ErrBadStatus, wantStatus: 500, wantMsg: "500 Internal Server Error: store down"},
		{name: "404_text", steps: []http.HandlerFunc{respond(404, "text/plain; charset=utf-8", "no such\nstream\x1b[31m\n")},
			wantErr: client.ErrBadStatus, wantStatus: 404, wantMsg: "404 Not Found: no such stream [31m"},
		{name: "503_html", steps: []http.HandlerFunc{respond(503, "text/html", "<h1>down</h1>")},
			wantErr: client.ErrBadStatus, wantStatus: 503, wantMsg: "503 Service Unavailable"},
		{name: "418_teapot", steps: []http.HandlerFunc{respond(418, "", "")},
			wantErr: client.ErrBadStatus, wantStatus: 418, wantMsg: "418 I'm a teapot"},
		{name: "wrong_content_type", steps: []http.HandlerFunc{respond(200, "text/plain", "data: a\n\n")},
			wantErr: client.ErrContentType, wantMsg: `Content-Type "text/plain"`},
		{name: "no_content_type", steps: []http.HandlerFunc{respond(200, "", "")},
			wantErr: client.ErrContentType},
		{name: "event_stream_lookalike", steps: []http.HandlerFunc{respond(200, "text/event-streams", "data: a\n\n")},
			wantErr: client.ErrContentType},
		{name: "500_after_a_stream", steps: []http.HandlerFunc{stream("data: a\n\n"), respond(500, "application/json", `{"error": "gone"}`)},
			wantEvents: 1, wantErr: client.ErrBadStatus, wantStatus: 500, wantMsg: "gone"},
		{name: "wrong_type_after_a_stream", steps: []http.HandlerFunc{stream("data: a\n\n"), respond(200, "application/json", `{}`)},
			wantEvents: 1, wantErr: client.ErrContentType},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{steps: tt.steps}
			ts := serve(t, s)
			c := newConn(t, ts.URL, client.Options{})
			instant(c)
			got, err := collect(t.Context(), c)
			if len(got) != tt.wantEvents {
				t.Errorf("%d events, want %d", len(got), tt.wantEvents)
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Events ended with %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) || !strings.Contains(err.Error(), ts.URL) {
				t.Errorf("error %q, want it to name %s and contain %q", err, ts.URL, tt.wantMsg)
			}
			var se *client.StatusError
			if tt.wantStatus != 0 && (!errors.As(err, &se) || se.StatusCode != tt.wantStatus) {
				t.Errorf("error %v, want a *StatusError with status %d", err, tt.wantStatus)
			}
			if n := s.count(); n != len(tt.steps) {
				t.Errorf("%d requests, want %d: no reconnection after the failure", n, len(tt.steps))
			}
		})
	}
}

// TestEventsAcceptsContentTypeParameters checks that only the MIME type's
// essence matters.
func TestEventsAcceptsContentTypeParameters(t *testing.T) {
	ts := serve(t, &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "Text/Event-Stream ; charset=utf-8")
		io.WriteString(w, "data: a\n\n")
	}}})
	c := newConn(t, ts.URL, client.Options{})
	instant(c)
	got, err := collect(t.Context(), c)
	if err != nil || len(got) != 1 {
		t.Errorf("Events = %q, %v; want one event and nil", got, err)
	}
}

// TestEvents204 checks that 204 No Content on the first request ends the
// iteration at once, without an error.
func TestEvents204(t *testing.T) {
	s := &script{}
	ts := serve(t, s)
	c := newConn(t, ts.URL, client.Options{})
	w := instant(c)
	got, err := collect(t.Context(), c)
	if err != nil || len(got) != 0 {
		t.Errorf("Events = %q, %v; want no event and nil", got, err)
	}
	if s.count() != 1 || len(w.list()) != 0 {
		t.Errorf("%d requests, waits %v; want 1 request and no wait", s.count(), w.list())
	}
}

// TestEventsRetryChanges checks that each wait uses the latest retry the
// server sent, from a dispatched event or not, and that Options.Retry
// applies until then.
func TestEventsRetryChanges(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{
		stream("data: a\n\n"),
		stream("retry: 1500\ndata: b\n\n"),
		stream("data: c\n\nretry: 250\n"),
		stream("data: d\n\n"),
		stream("retry: 99\ndata: never dispatched"),
		stream("retry: 0\n\n"),
	}}
	ts := serve(t, s)
	c := newConn(t, ts.URL, client.Options{Retry: 10 * time.Second})
	if got := c.Retry(); got != 10*time.Second {
		t.Errorf("Retry() before connecting = %v, want Options.Retry", got)
	}
	w := instant(c)
	got, err := collect(t.Context(), c)
	if err != nil || len(got) != 4 {
		t.Errorf("Events = %q, %v; want 4 events and nil", got, err)
	}
	want := []time.Duration{10 * time.Second, 1500 * time.Millisecond, 250 * time.Millisecond, 250 * time.Millisecond, 99 * time.Millisecond, 0}
	if got := w.list(); !slices.Equal(got, want) {
		t.Errorf("waits %v, want %v", got, want)
	}
}

// TestEventsLastEventID checks the headers of each request: the last
// committed ID persists across connections, Options.LastEventID starts
// it, and the Conn's own headers replace the caller's.
func TestEventsLastEventID(t *testing.T) {
	var mu sync.Mutex
	var seen []string // LastEventID() as each event arrives
	s := &script{steps: []http.HandlerFunc{
		stream("data: a\n\nid: 1\ndata: b\n\nid: 2\ndata: cut off"),
		stream("id: 3\n\n"),                     // an id-only block commits
		stream("data: c\n\nid\n\nid: 9\ndata:"), // reset, then an unfinished block
		stream("data: d\n\n"),
	}}
	ts := serve(t, s)
	c := newConn(t, ts.URL, client.Options{
		LastEventID: "start",
		Header: http.Header{
			"Authorization": {"Bearer t"},
			"Last-Event-Id": {"ignored"},
			"Accept":        {"text/html"},
		},
	})
	instant(c)
	var got []rawstream.Event
	for ev, err := range c.Events(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, browserEvent(ev))
		mu.Lock()
		seen = append(seen, c.LastEventID())
		mu.Unlock()
	}
	want := []rawstream.Event{
		{ID: "start", Type: "message", Data: "a"},
		{ID: "1", Type: "message", Data: "b"},
		{ID: "3", Type: "message", Data: "c"},
		{ID: "", Type: "message", Data: "d"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("events:\n got %q\nwant %q", got, want)
	}
	if wantSeen := []string{"start", "1", "3", ""}; !slices.Equal(seen, wantSeen) {
		t.Errorf("LastEventID() at each event = %q, want %q", seen, wantSeen)
	}
	wantHeaders := []string{"start", "1", "3", "", ""}
	if s.count() != len(wantHeaders) {
		t.Fatalf("%d requests, want %d", s.count(), len(wantHeaders))
	}
	for i, want := range wantHeaders {
		v, ok := s.header(i, "Last-Event-ID")
		if v != want || ok != (want != "") {
			t.Errorf("request %d: Last-Event-ID %q (present %v), want %q", i+1, v, ok, want)
		}
		if v, _ := s.header(i, "Authorization"); v != "Bearer t" {
			t.Errorf("request %d: Authorization %q, want the Options.Header's", i+1, v)
		}
		if v, _ := s.header(i, "Accept"); v != "text/event-stream" {
			t.Errorf("request %d: Accept %q, want text/event-stream", i+1, v)
		}
	}
}

// TestEventsBackoff checks the waits after failed attempts: the retry plus
// a jittered delay that grows to its cap, and back to the plain retry
// after a stream opens.
func TestEventsBackoff(t *testing.T) {
	var logs bytes.Buffer
	var logMu sync.Mutex
	s := &script{steps: []http.HandlerFunc{
		hangUp, hangUp, hangUp, hangUp, hangUp,
		stream("data: a\n\n"),
		hangUp,
	}}
	ts := serve(t, s)
	retry := 100 * time.Millisecond
	c := newConn(t, ts.URL, client.Options{
		HTTPClient: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}},
		Retry:      retry,
		Backoff:    client.Backoff{Initial: time.Second, Max: 5 * time.Second, Multiplier: 2},
		Logger:     slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil)),
	})
	w := instant(c)
	got, err := collect(t.Context(), c)
	if err != nil || len(got) != 1 {
		t.Errorf("Events = %q, %v; want one event and nil", got, err)
	}
	// The delay before jitter after each attempt; 0 after the stream.
	delays := []time.Duration{1 * time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 0, 1 * time.Second}
	waits := w.list()
	if len(waits) != len(delays) {
		t.Fatalf("waits %v, want %d", waits, len(delays))
	}
	for i, d := range delays {
		if lo, hi := retry+d/2, retry+d; waits[i] < lo || waits[i] > hi {
			t.Errorf("wait %d = %v, want between %v and %v", i+1, waits[i], lo, hi)
		}
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "failures=5") || !strings.Contains(logs.String(), "event stream ended; reconnecting") {
		t.Errorf("log lacks the failures and the reconnection:\n%s", logs.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestEventsJitter checks that waits after failures vary.
func TestEventsJitter(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens: every attempt is refused
	c := newConn(t, "http://"+addr, client.Options{Backoff: client.Backoff{Initial: time.Hour, Max: time.Hour}})
	w := instant(c)
	w.stopAfter = 20
	if _, err := collect(t.Context(), c); !errors.Is(err, context.Canceled) {
		t.Fatalf("Events ended with %v, want the wait's context.Canceled", err)
	}
	waits := w.list()
	slices.Sort(waits)
	if len(slices.Compact(waits)) < 10 {
		t.Errorf("waits %v: want them spread by jitter", w.list())
	}
}

// TestEventsNoReconnectNetworkFailure checks that with NoReconnect a
// refused connection is yielded at once.
func TestEventsNoReconnectNetworkFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	c := newConn(t, "http://"+addr+"/events", client.Options{NoReconnect: true})
	w := instant(c)
	_, err = collect(t.Context(), c)
	if err == nil || !strings.Contains(err.Error(), "connection refused") || len(w.list()) != 0 {
		t.Errorf("Events ended with %v after waits %v; want connection refused and no wait", err, w.list())
	}
}

// TestEventsSilentServer checks that ending ctx ends the iteration, with
// ctx's error, when the server never sends a byte: neither headers nor,
// after them, any of the body.
func TestEventsSilentServer(t *testing.T) {
	tests := []struct {
		name    string
		headers bool
	}{
		{name: "no_headers", headers: false},
		{name: "headers_then_nothing", headers: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived := make(chan struct{})
			ended := make(chan struct{})
			ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(ended)
				if tt.headers {
					w.Header().Set("Content-Type", "text/event-stream")
					w.WriteHeader(http.StatusOK)
					http.NewResponseController(w).Flush()
				}
				close(arrived)
				<-r.Context().Done()
			}))
			c := newConn(t, ts.URL, client.Options{})
			instant(c)
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			result := make(chan error, 1)
			go func() {
				_, err := collect(ctx, c)
				result <- err
			}()
			<-arrived
			cancel()
			select {
			case err := <-result:
				if !errors.Is(err, context.Canceled) {
					t.Errorf("Events ended with %v, want context.Canceled", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Events still running 10s after its context ended")
			}
			<-ended // the connection was closed: the handler saw it
		})
	}
}

// TestEventsCancelWhileWaiting checks that ending ctx during the wait
// before a reconnection ends the iteration with ctx's error.
func TestEventsCancelWhileWaiting(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{stream("data: a\n\n")}}
	ts := serve(t, s)
	c := newConn(t, ts.URL, client.Options{Retry: time.Hour}) // the real sleep
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var err error
	for _, e := range c.Events(ctx) {
		if e != nil {
			err = e
			break
		}
		cancel() // after the first event; the stream ends and the wait begins
	}
	if !errors.Is(err, context.Canceled) || s.count() != 1 {
		t.Errorf("Events ended with %v after %d requests; want context.Canceled after 1", err, s.count())
	}
}

// TestEventsBreakClosesConnection checks that breaking out of the loop
// closes the connection, so the server's handler ends.
func TestEventsBreakClosesConnection(t *testing.T) {
	ended := make(chan struct{})
	ts := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(ended)
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: first\n\n")
		http.NewResponseController(w).Flush()
		<-r.Context().Done()
	}))
	c := newConn(t, ts.URL, client.Options{})
	for ev, err := range c.Events(t.Context()) {
		if err != nil || ev.Data != "first" {
			t.Fatalf("first value %+v, %v", ev, err)
		}
		break
	}
	select {
	case <-ended:
	case <-time.After(10 * time.Second):
		t.Fatal("the server's handler still runs 10s after the loop stopped")
	}
}

// TestEventsMaxEventSize checks that an event over the limit fails the
// source for good.
func TestEventsMaxEventSize(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{stream("data: short\n\ndata: " + strings.Repeat("x", 64) + "\n\n")}}
	ts := serve(t, s)
	c := newConn(t, ts.URL, client.Options{MaxEventSize: 32})
	instant(c)
	got, err := collect(t.Context(), c)
	if len(got) != 1 || !errors.Is(err, sse.ErrTooLarge) || s.count() != 1 {
		t.Errorf("Events = %q, %v after %d requests; want one event, then sse.ErrTooLarge, no reconnection", got, err, s.count())
	}
}

// TestErrorsHideToken checks that errors and logs do not show a token
// passed in the URL.
func TestErrorsHideToken(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	unauthorized := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "token expired", http.StatusUnauthorized)
	})).URL
	for _, base := range []string{unauthorized, "http://" + closed} {
		var logs bytes.Buffer
		var mu sync.Mutex
		c := newConn(t, base+"/events?topic=a&access_token=s3cret", client.Options{
			Logger: slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, nil)),
		})
		w := instant(c)
		w.stopAfter = 1
		_, err := collect(t.Context(), c)
		mu.Lock()
		text := err.Error() + logs.String()
		mu.Unlock()
		if strings.Contains(text, "s3cret") || !strings.Contains(text, "access_token=REDACTED") {
			t.Errorf("error and logs show the token, or no URL:\n%s", text)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name    string
		url     string
		opts    client.Options
		wantErr error
	}{
		{name: "http", url: "http://localhost:8080/events?topic=a"},
		{name: "https", url: "https://example.com/stream"},
		{name: "relative", url: "/events", wantErr: client.ErrInvalidURL},
		{name: "no_host", url: "http:///events", wantErr: client.ErrInvalidURL},
		{name: "other_scheme", url: "ws://localhost/events", wantErr: client.ErrInvalidURL},
		{name: "unparsable", url: "http://[::1", wantErr: client.ErrInvalidURL},
		{name: "last_event_id_with_newline", url: "http://localhost/", opts: client.Options{LastEventID: "1\n2"}, wantErr: sse.ErrInvalidID},
		{name: "last_event_id_with_nul", url: "http://localhost/", opts: client.Options{LastEventID: "1\x00"}, wantErr: sse.ErrInvalidID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := client.New(tt.url, tt.opts)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("New(%q) = %v, want %v", tt.url, err, tt.wantErr)
			}
			if err == nil && (c.Retry() != client.DefaultRetry || c.LastEventID() != tt.opts.LastEventID) {
				t.Errorf("New(%q): Retry %v, LastEventID %q; want the defaults", tt.url, c.Retry(), c.LastEventID())
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		b    client.Backoff
		n    int
		want time.Duration
	}{
		{client.Backoff{}, 0, 0},
		{client.Backoff{}, -1, 0},
		{client.Backoff{}, 1, time.Second},
		{client.Backoff{}, 2, 2 * time.Second},
		{client.Backoff{}, 5, 16 * time.Second},
		{client.Backoff{}, 6, 30 * time.Second},
		{client.Backoff{}, 1000, 30 * time.Second},
		{client.Backoff{}, 1 << 30, 30 * time.Second},
		{client.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3}, 3, 900 * time.Millisecond},
		{client.Backoff{Initial: 100 * time.Millisecond, Max: time.Second, Multiplier: 3}, 4, time.Second},
		{client.Backoff{Initial: time.Minute}, 3, time.Minute}, // Max below Initial
		{client.Backoff{Multiplier: 0.5}, 4, time.Second},      // constant
		{client.Backoff{Multiplier: 1}, 9, time.Second},
	}
	for _, tt := range tests {
		if got := tt.b.Delay(tt.n); got != tt.want {
			t.Errorf("%+v.Delay(%d) = %v, want %v", tt.b, tt.n, got, tt.want)
		}
	}
}

// TestEventsConcurrentAccessors reads LastEventID and Retry while an
// iteration runs; -race checks them.
func TestEventsConcurrentAccessors(t *testing.T) {
	var body strings.Builder
	for i := range 200 {
		fmt.Fprintf(&body, "id: %d\nretry: %d\ndata: x\n\n", i, i)
	}
	ts := serve(t, &script{steps: []http.HandlerFunc{stream(body.String())}})
	c := newConn(t, ts.URL, client.Options{})
	instant(c)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				_, _ = c.LastEventID(), c.Retry()
			}
		}
	})
	got, err := collect(t.Context(), c)
	close(stop)
	wg.Wait()
	if err != nil || len(got) != 200 || c.LastEventID() != "199" || c.Retry() != 199*time.Millisecond {
		t.Errorf("%d events, %v, last ID %q, retry %v", len(got), err, c.LastEventID(), c.Retry())
	}
}
