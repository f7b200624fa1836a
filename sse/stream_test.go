package sse_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldsse/herald/sse"
)

// failAfter bounds how long a test waits for something that should happen
// promptly. It is only a bound on failure, never how a test synchronises.
const failAfter = 10 * time.Second

// serve starts a test server for h and closes it when the test ends.
func serve(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// get requests url with extra headers and fails the test unless the answer is
// 200. The body is closed when the test ends.
func get(t *testing.T, ctx context.Context, srv *httptest.Server, url string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %s, want 200 OK", url, resp.Status)
	}
	return resp
}

// wait fails the test unless ch is closed or receives within failAfter.
func wait[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(failAfter):
		t.Fatalf("%s: nothing after %v", what, failAfter)
		panic("unreachable")
	}
}

func TestOpenHeaders(t *testing.T) {
	tests := []struct {
		name string
		opts sse.Options
		body string
	}{
		{name: "zero_options", opts: sse.Options{}, body: "data: hi\n\n"},
		{name: "retry_on_open", opts: sse.Options{Retry: 1500 * time.Millisecond}, body: "retry: 1500\n\ndata: hi\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Length", "1234") // Open must drop it
				st, err := sse.Open(w, r, tt.opts)
				if err != nil {
					t.Errorf("Open() = %v", err)
					return
				}
				defer st.Close()
				if err := st.Send(sse.Event{Data: "hi"}); err != nil {
					t.Errorf("Send() = %v", err)
				}
			})
			resp := get(t, t.Context(), srv, srv.URL, nil)
			for name, want := range map[string]string{
				"Content-Type":      "text/event-stream",
				"Cache-Control":     "no-cache",
				"X-Accel-Buffering": "no",
				"Content-Length":    "",
			} {
				if got := resp.Header.Get(name); got != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			body, err := io.ReadAll(resp.Body)
			if string(body) != tt.body || err != nil {
				t.Errorf("body = %q, %v; want %q, nil", body, err, tt.body)
			}
		})
	}
}

// TestOpenFlushesHeaders checks that a client sees the response, and the
// retry hint, as soon as Open returns, before any event.
func TestOpenFlushesHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, sse.Options{Retry: time.Second})
		if err != nil {
			t.Errorf("Open() = %v", err)
			return
		}
		defer st.Close()
		select {
		case <-release:
		case <-st.Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before srv.Close, which waits for the handler
	resp := get(t, t.Context(), srv, srv.URL, nil)
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if line != "retry: 1000\n" || err != nil {
		t.Errorf("first line = %q, %v; want %q, nil", line, err, "retry: 1000\n")
	}
}

func TestStreamWireBytes(t *testing.T) {
	shared, _ := sse.AppendEvent(nil, sse.Event{ID: "9", Data: "shared"})
	shared = sse.AppendComment(shared, "and a comment")
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, sse.Options{Heartbeat: -1})
		if err != nil {
			t.Errorf("Open() = %v", err)
			return
		}
		defer st.Close()
		for _, err := range []error{
			st.Send(sse.Event{ID: "1", Type: "update", Data: "a\nb\r\nc", Retry: 2 * time.Second}),
			st.Send(sse.Event{}),
			st.Comment("hello\nworld"),
			st.Comment(""),
			st.Retry(250 * time.Millisecond),
			st.WriteEncoded(shared),
		} {
			if err != nil {
				t.Errorf("writing to the stream: %v", err)
			}
		}
	})
	resp := get(t, t.Context(), srv, srv.URL, nil)
	body, err := io.ReadAll(resp.Body)
	want := "id: 1\nevent: update\nretry: 2000\ndata: a\ndata: b\ndata: c\n\n" +
		"data:\n\n" +
		": hello\n: world\n" +
		":\n" +
		"retry: 250\n\n" +
		"id: 9\ndata: shared\n\n: and a comment\n"
	if string(body) != want || err != nil {
		t.Errorf("body = %q, %v; want %q, nil", body, err, want)
	}
}

func TestStreamSendInvalid(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
		err  error
	}{
		{"id_with_lf", sse.Event{ID: "1\n2", Data: "x"}, sse.ErrInvalidID},
		{"id_with_cr", sse.Event{ID: "1\r", Data: "x"}, sse.ErrInvalidID},
		{"id_with_nul", sse.Event{ID: "\x00", Data: "x"}, sse.ErrInvalidID},
		{"type_with_lf", sse.Event{Type: "a\nb", Data: "x"}, sse.ErrInvalidType},
		{"type_with_cr", sse.Event{Type: "a\r", Data: "x"}, sse.ErrInvalidType},
		{"negative_retry", sse.Event{Retry: -time.Second, Data: "x"}, sse.ErrInvalidRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				st, err := sse.Open(w, r, sse.Options{Heartbeat: -1})
				if err != nil {
					t.Errorf("Open() = %v", err)
					return
				}
				defer st.Close()
				if err := st.Send(sse.Event{Data: "before"}); err != nil {
					t.Errorf("Send(valid) = %v", err)
				}
				if err := st.Send(tt.ev); !errors.Is(err, tt.err) {
					t.Errorf("Send(%q) = %v, want %v", tt.ev, err, tt.err)
				}
				if err := st.Err(); err != nil {
					t.Errorf("Err() after an invalid Send = %v, want nil", err)
				}
				select {
				case <-st.Done():
					t.Errorf("Done() closed after an invalid Send")
				default:
				}
				if err := st.Send(sse.Event{Data: "after"}); err != nil {
					t.Errorf("Send(valid) after an invalid Send = %v, want nil", err)
				}
			})
			resp := get(t, t.Context(), srv, srv.URL, nil)
			body, err := io.ReadAll(resp.Body)
			if want := "data: before\n\ndata: after\n\n"; string(body) != want || err != nil {
				t.Errorf("body = %q, %v; want %q, nil", body, err, want)
			}
		})
	}
}

func TestStreamLastEventID(t *testing.T) {
	tests := []struct {
		name   string
		query  string
		header string
		want   string
	}{
		{name: "first_connection", want: ""},
		{name: "header", header: "42", want: "42"},
		{name: "query_parameter", query: "?lastEventId=17", want: "17"},
		{name: "escaped_query_parameter", query: "?lastEventId=a%20b%2Fc", want: "a b/c"},
		{name: "header_wins_over_query", query: "?lastEventId=17", header: "42", want: "42"},
		{name: "other_query_parameter", query: "?topic=x", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				st, err := sse.Open(w, r, sse.Options{Heartbeat: -1})
				if err != nil {
					t.Errorf("Open() = %v", err)
					return
				}
				defer st.Close()
				if err := st.Send(sse.Event{Data: st.LastEventID()}); err != nil {
					t.Errorf("Send() = %v", err)
				}
			})
			header := http.Header{}
			if tt.header != "" {
				header.Set("Last-Event-ID", tt.header)
			}
			resp := get(t, t.Context(), srv, srv.URL+tt.query, header)
			ev, err := sse.NewDecoder(resp.Body).Next()
			if ev.Data != tt.want || err != nil {
				t.Errorf("LastEventID() with header %q and query %q = %q (%v), want %q", tt.header, tt.query, ev.Data, err, tt.want)
			}
		})
	}
}

// TestStreamClientDisconnect checks that a handler learns that its client
// has gone, through Done and through Send, and returns.
func TestStreamClientDisconnect(t *testing.T) {
	type outcome struct {
		sendErr, err error
		sent         int
	}
	tests := []struct {
		name    string
		handler func(st *sse.Stream) outcome
	}{
		{
			name: "done_closes",
			handler: func(st *sse.Stream) outcome {
				<-st.Done()
				return outcome{sendErr: st.Send(sse.Event{Data: "too late"}), err: st.Err()}
			},
		},
		{
			name: "send_fails",
			handler: func(st *sse.Stream) outcome {
				for i := 0; ; i++ {
					if err := st.Send(sse.Event{Data: strconv.Itoa(i)}); err != nil {
						return outcome{sendErr: err, err: st.Err(), sent: i}
					}
				}
			},
		},
		{
			name: "comment_fails",
			handler: func(st *sse.Stream) outcome {
				for i := 0; ; i++ {
					if err := st.Comment("ping"); err != nil {
						return outcome{sendErr: err, err: st.Err(), sent: i}
					}
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			returned := make(chan outcome, 1)
			srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
				st, err := sse.Open(w, r, sse.Options{Heartbeat: -1})
				if err != nil {
					t.Errorf("Open() = %v", err)
					close(returned)
					return
				}
				defer st.Close()
				if err := st.Send(sse.Event{Data: "first"}); err != nil {
					t.Errorf("Send(first) = %v", err)
				}
				returned <- tt.handler(st)
			})
			ctx, cancel := context.WithCancel(t.Context())
			resp := get(t, ctx, srv, srv.URL, nil)
			if ev, err := sse.NewDecoder(resp.Body).Next(); ev.Data != "first" || err != nil {
				t.Fatalf("first event = %q, %v; want data %q", ev, err, "first")
			}
			cancel() // the client goes away mid-stream
			resp.Body.Close()

			o := wait(t, returned, "handler returning after the client went away")
			if o.sendErr == nil {
				t.Errorf("write after the client went away = nil, want an error")
			}
			if o.err == nil {
				t.Errorf("Err() after the client went away = nil, want an error")
			}
		})
	}
}

// TestStreamClientStopsReading checks that the write deadline frees a
// handler whose client keeps the connection open but reads nothing.
func TestStreamClientStopsReading(t *testing.T) {
	returned := make(chan error, 1)
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, sse.Options{Heartbeat: -1, WriteTimeout: 100 * time.Millisecond})
		if err != nil {
			returned <- err
			return
		}
		defer st.Close()
		big := sse.Event{Data: strings.Repeat("x", 64<<10)}
		// Far more than any socket buffers can hold; without the write
		// deadline, Send blocks once they are full.
		for range 1 << 14 {
			if err := st.Send(big); err != nil {
				if st.Err() == nil {
					t.Errorf("Err() after Send failed = nil, want an error")
				}
				select {
				case <-st.Done():
				default:
					t.Errorf("Done() not closed after Send failed")
				}
				returned <- err
				return
			}
		}
		returned <- errors.New("sent 1 GiB to a client that reads nothing")
	})

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() }) // runs before srv.Close
	if _, err := fmt.Fprintf(conn, "GET / HTTP/1.1\r\nHost: %s\r\n\r\n", srv.Listener.Addr()); err != nil {
		t.Fatal(err)
	}
	// The client never reads.
	err = wait(t, returned, "handler returning while its client reads nothing")
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("Send to a client that reads nothing = %v, want an error matching os.ErrDeadlineExceeded", err)
	}
}

func TestStreamConcurrentSend(t *testing.T) {
	const senders, events = 8, 50
	srv := serve(t, func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, sse.Options{Heartbeat: time.Millisecond})
		if err != nil {
			t.Errorf("Open() = %v", err)
			return
		}
		defer st.Close()
		var wg sync.WaitGroup
		for s := range senders {
			wg.Go(func() {
				for i := range events {
					data := fmt.Sprintf("sender %d\nevent %d", s, i)
					if err := st.Send(sse.Event{ID: strconv.Itoa(s), Data: data}); err != nil {
						t.Errorf("Send() = %v", err)
						return
					}
					if i%10 == 0 {
						_ = st.Comment("interleaved")
					}
				}
			})
		}
		wg.Wait()
	})
	resp := get(t, t.Context(), srv, srv.URL, nil)
	d := sse.NewDecoder(resp.Body)
	next := make([]int, senders)
	for {
		ev, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("Next() = %v", err)
		}
		s, _ := strconv.Atoi(ev.ID)
		if want := fmt.Sprintf("sender %s\nevent %d", ev.ID, next[s]); ev.Data != want {
			t.Fatalf("event %q, want data %q: events were interleaved or lost", ev, want)
		}
		next[s]++
	}
	for s, n := range next {
		if n != events {
			t.Errorf("sender %d: received %d events, want %d", s, n, events)
		}
	}
}

// memWriter is an in-memory http.ResponseWriter with Flush and
// SetWriteDeadline, for tests that run inside a synctest bubble, where real
// sockets cannot be used. It is safe for the heartbeat's goroutine.
type memWriter struct {
	mu        sync.Mutex
	header    http.Header
	code      int
	body      bytes.Buffer
	flushes   int
	deadlines []time.Time
	writeErr  error // returned by Write once set
}

func newMemWriter() *memWriter { return &memWriter{header: http.Header{}} }

func (w *memWriter) Header() http.Header { return w.header }

func (w *memWriter) WriteHeader(code int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.code == 0 {
		w.code = code
	}
}

func (w *memWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.code == 0 {
		w.code = http.StatusOK
	}
	if w.writeErr != nil {
		return 0, w.writeErr
	}
	return w.body.Write(p)
}

func (w *memWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.flushes++
}

func (w *memWriter) SetWriteDeadline(t time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deadlines = append(w.deadlines, t)
	return nil
}

func (w *memWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.body.String()
}

func (w *memWriter) lastDeadline() (time.Time, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.deadlines) == 0 {
		return time.Time{}, false
	}
	return w.deadlines[len(w.deadlines)-1], true
}

func (w *memWriter) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writeErr = err
}

// Inside a synctest bubble time is fake: time.Sleep advances the bubble's
// clock at once once every goroutine in it is blocked, and synctest.Wait
// lets the timers that fired finish their work. No real time passes.

func TestStreamHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newMemWriter()
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{Heartbeat: 10 * time.Second})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		defer st.Close()

		check := func(when, want string) {
			t.Helper()
			synctest.Wait()
			if got := w.String(); got != want {
				t.Errorf("%s: stream = %q, want %q", when, got, want)
			}
		}
		check("on open", "")
		time.Sleep(10*time.Second - time.Nanosecond)
		check("just before the interval", "")
		time.Sleep(time.Nanosecond)
		check("after one idle interval", ":\n")
		time.Sleep(10 * time.Second)
		check("after two idle intervals", ":\n:\n")

		time.Sleep(5 * time.Second) // 25 s
		if err := st.Send(sse.Event{Data: "x"}); err != nil {
			t.Fatalf("Send() = %v", err)
		}
		time.Sleep(5 * time.Second) // 30 s: the stream spoke 5 s ago
		check("an interval after the last heartbeat, but soon after an event", ":\n:\ndata: x\n\n")
		time.Sleep(5 * time.Second) // 35 s: silent for 10 s
		check("an idle interval after the event", ":\n:\ndata: x\n\n:\n")

		if err := st.Close(); err != nil {
			t.Errorf("Close() = %v", err)
		}
		time.Sleep(time.Hour)
		check("an hour after Close", ":\n:\ndata: x\n\n:\n")
	})
}

func TestStreamHeartbeatDefaultAndOff(t *testing.T) {
	tests := []struct {
		name      string
		heartbeat time.Duration
		after     time.Duration
		want      string
	}{
		{name: "default_not_yet", heartbeat: 0, after: sse.DefaultHeartbeat - time.Nanosecond, want: ""},
		{name: "default", heartbeat: 0, after: sse.DefaultHeartbeat, want: ":\n"},
		{name: "off", heartbeat: -1, after: 24 * time.Hour, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := newMemWriter()
				r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
				st, err := sse.Open(w, r, sse.Options{Heartbeat: tt.heartbeat})
				if err != nil {
					t.Fatalf("Open() = %v", err)
				}
				defer st.Close()
				time.Sleep(tt.after)
				synctest.Wait()
				if got := w.String(); got != tt.want {
					t.Errorf("stream after %v with Heartbeat %v = %q, want %q", tt.after, tt.heartbeat, got, tt.want)
				}
			})
		})
	}
}

// TestStreamHeartbeatFindsDeadClient checks that a failed heartbeat ends the
// stream: Done closes and the handler's next Send fails.
func TestStreamHeartbeatFindsDeadClient(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newMemWriter()
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{Heartbeat: time.Second})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		defer st.Close()
		errGone := errors.New("connection reset by peer")
		w.fail(errGone)
		time.Sleep(time.Second)
		synctest.Wait()
		select {
		case <-st.Done():
		default:
			t.Fatalf("Done() not closed after a heartbeat failed")
		}
		if err := st.Send(sse.Event{Data: "x"}); !errors.Is(err, errGone) {
			t.Errorf("Send() after a failed heartbeat = %v, want %v", err, errGone)
		}
		if err := st.Err(); !errors.Is(err, errGone) {
			t.Errorf("Err() = %v, want %v", err, errGone)
		}
	})
}

func TestStreamEndsWithRequest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newMemWriter()
		ctx, cancel := context.WithCancel(t.Context())
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		defer st.Close()
		if err := st.Err(); err != nil {
			t.Errorf("Err() on an open stream = %v, want nil", err)
		}
		cancel()
		synctest.Wait()
		select {
		case <-st.Done():
		default:
			t.Fatalf("Done() not closed after the request's context ended")
		}
		for name, err := range map[string]error{
			"Send":         st.Send(sse.Event{Data: "x"}),
			"Comment":      st.Comment("x"),
			"Retry":        st.Retry(time.Second),
			"WriteEncoded": st.WriteEncoded([]byte("data: x\n\n")),
		} {
			if !errors.Is(err, sse.ErrClosed) || !errors.Is(err, context.Canceled) {
				t.Errorf("%s() after the request ended = %v, want %v wrapping %v", name, err, sse.ErrClosed, context.Canceled)
			}
		}
		if got := w.String(); got != "" {
			t.Errorf("stream = %q, want nothing written after the request ended", got)
		}
	})
}

func TestStreamClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newMemWriter()
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		for range 2 {
			if err := st.Close(); err != nil {
				t.Errorf("Close() = %v, want nil", err)
			}
		}
		select {
		case <-st.Done():
		default:
			t.Errorf("Done() not closed after Close")
		}
		if err := st.Send(sse.Event{Data: "x"}); !errors.Is(err, sse.ErrClosed) {
			t.Errorf("Send() after Close = %v, want %v", err, sse.ErrClosed)
		}
		if err := st.Err(); !errors.Is(err, sse.ErrClosed) {
			t.Errorf("Err() after Close = %v, want %v", err, sse.ErrClosed)
		}
	})
}

// TestStreamWriteDeadline checks that every write is bounded by
// WriteTimeout, and that the response's end, which net/http writes after
// the handler returns, is bounded too.
// TestStreamWriteDeadline checks that each write is bounded by the write
// timeout, and that the deadline is cleared once it is done: net/http
// resets an HTTP/2 stream whose deadline passes even when idle.
func TestStreamWriteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 5 * time.Second
		w := newMemWriter()
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{WriteTimeout: timeout, Heartbeat: -1})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		check := func(what string) {
			t.Helper()
			w.mu.Lock()
			ds := w.deadlines
			w.deadlines = nil
			w.mu.Unlock()
			if len(ds) != 2 || !ds[0].Equal(time.Now().Add(timeout)) || !ds[1].IsZero() {
				t.Errorf("write deadlines on %s = %v, want now + %v, then none", what, ds, timeout)
			}
		}
		check("Open")
		time.Sleep(time.Minute)
		if err := st.Send(sse.Event{Data: "x"}); err != nil {
			t.Fatalf("Send() = %v", err)
		}
		check("Send")
		time.Sleep(time.Minute)
		st.Close()
		if d, ok := w.lastDeadline(); !ok || d.IsZero() || d.After(time.Now().Add(timeout)) || !d.After(time.Now()) {
			t.Errorf("write deadline after Close = %v (set: %v), want a deadline in (now, now + %v]", d, ok, timeout)
		}
	})
}

// TestStreamIdleHTTP2 keeps an HTTP/2 stream idle for longer than the write
// timeout, then sends: the event arrives (a write deadline left set would
// have reset the stream).
func TestStreamIdleHTTP2(t *testing.T) {
	sent := make(chan error, 1)
	idle := make(chan struct{})
	ts := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, sse.Options{WriteTimeout: 50 * time.Millisecond, Heartbeat: -1})
		if err != nil {
			sent <- err
			return
		}
		defer st.Close()
		<-idle
		sent <- st.Send(sse.Event{Data: "after idling"})
		<-r.Context().Done()
	}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer ts.Close()
	resp, err := ts.Client().Get(ts.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s, want HTTP/2", resp.Proto)
	}
	time.Sleep(300 * time.Millisecond) // idle, six write timeouts: what the test is about, not a wait for an event
	close(idle)
	if err := <-sent; err != nil {
		t.Fatalf("Send after idling = %v", err)
	}
	ev, err := sse.NewDecoder(resp.Body).Next()
	if err != nil || ev.Data != "after idling" {
		t.Errorf("after idling longer than the write timeout: %+v, %v; want the event", ev, err)
	}
}

func TestStreamNoWriteDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newMemWriter()
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{WriteTimeout: -1, Heartbeat: -1})
		if err != nil {
			t.Fatalf("Open() = %v", err)
		}
		if err := st.Send(sse.Event{Data: "x"}); err != nil {
			t.Fatalf("Send() = %v", err)
		}
		st.Close()
		if d, ok := w.lastDeadline(); ok {
			t.Errorf("with WriteTimeout -1, a write deadline %v was set, want none", d)
		}
	})
}

// plainWriter is a ResponseWriter that cannot flush.
type plainWriter struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (w *plainWriter) Header() http.Header         { return w.header }
func (w *plainWriter) WriteHeader(code int)        { w.code = code }
func (w *plainWriter) Write(p []byte) (int, error) { return w.body.Write(p) }

func TestOpenErrors(t *testing.T) {
	t.Run("writer_cannot_flush", func(t *testing.T) {
		w := &plainWriter{header: http.Header{}}
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{})
		if !errors.Is(err, http.ErrNotSupported) || st != nil {
			t.Errorf("Open(writer without Flush) = %v, %v; want nil, an error matching http.ErrNotSupported", st, err)
		}
	})
	t.Run("request_already_ended", func(t *testing.T) {
		w := newMemWriter()
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{Retry: time.Second})
		if !errors.Is(err, sse.ErrClosed) || st != nil {
			t.Errorf("Open(ended request) = %v, %v; want nil, %v", st, err, sse.ErrClosed)
		}
		if w.code != 0 || w.body.Len() != 0 || len(w.header) != 0 {
			t.Errorf("Open(ended request) wrote status %d, header %v, body %q; want nothing", w.code, w.header, w.body.String())
		}
	})
	t.Run("first_write_fails", func(t *testing.T) {
		w := newMemWriter()
		errGone := errors.New("broken pipe")
		w.fail(errGone)
		r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events", nil)
		st, err := sse.Open(w, r, sse.Options{Retry: time.Second})
		if !errors.Is(err, errGone) || st != nil {
			t.Errorf("Open() with a failing writer = %v, %v; want nil, %v", st, err, errGone)
		}
	})
}

// TestLastEventID checks the lookup every herald handler uses: the header
// first, then the query parameter. Bad inputs tried: an empty header, a
// malformed query escape, the parameter in the wrong case.
func TestLastEventID(t *testing.T) {
	tests := []struct {
		name   string
		target string
		header []string // values of Last-Event-ID; nil sends none
		want   string
	}{
		{name: "first_connection", target: "/events?topic=a", want: ""},
		{name: "header", target: "/", header: []string{"42"}, want: "42"},
		{name: "query_parameter", target: "/?lastEventId=17", want: "17"},
		{name: "escaped_query_parameter", target: "/?lastEventId=a%20b%2Fc", want: "a b/c"},
		{name: "header_wins_over_query", target: "/?lastEventId=17", header: []string{"42"}, want: "42"},
		{name: "empty_header_falls_back_to_query", target: "/?lastEventId=17", header: []string{""}, want: "17"},
		{name: "first_of_two_headers", target: "/", header: []string{"1", "2"}, want: "1"},
		{name: "malformed_query_escape_ignored", target: "/?lastEventId=%zz", want: ""},
		{name: "parameter_name_is_case_sensitive", target: "/?lasteventid=17", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tt.target, nil)
			for _, v := range tt.header {
				r.Header.Add("Last-Event-ID", v)
			}
			if got := sse.LastEventID(r); got != tt.want {
				t.Errorf("LastEventID(%s with Last-Event-ID %q) = %q, want %q", tt.target, tt.header, got, tt.want)
			}
		})
	}
}
