package sse_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
)

// TestDetach takes a real HTTP/1.1 connection over and checks what a
// client sees: status, the stream's headers with the handler's own, and a
// body that ends when the connection closes.
func TestDetach(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "r1")
		c, head, err := sse.Detach(w, r)
		if err != nil {
			t.Errorf("Detach: %v", err)
			return
		}
		defer c.Close()
		b, _ := sse.AppendEvent(head, sse.Event{ID: "1", Data: "hello"})
		if _, err := c.Write(b); err != nil {
			t.Errorf("write: %v", err)
		}
	}))
	defer srv.Close()

	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	for k, want := range map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
		"X-Request-Id":      "r1",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if resp.StatusCode != 200 || resp.ContentLength != -1 || len(resp.TransferEncoding) != 0 || !resp.Close {
		t.Errorf("status %d, length %d, encoding %v, close %v: want 200, a body delimited by the connection's end",
			resp.StatusCode, resp.ContentLength, resp.TransferEncoding, resp.Close)
	}
	dec := sse.NewDecoder(resp.Body)
	ev, err := dec.Next()
	if err != nil || ev.Data != "hello" || ev.ID != "1" {
		t.Fatalf("event %+v, %v", ev, err)
	}
	if _, err := dec.Next(); err != io.EOF {
		t.Errorf("after the close: %v, want EOF", err)
	}
}

// TestDetachRefuses checks the cases where the caller must use Open
// instead, and that nothing was written in them.
func TestDetachRefuses(t *testing.T) {
	t.Run("http2", func(t *testing.T) {
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if _, _, err := sse.Detach(w, r); !errors.Is(err, http.ErrNotSupported) {
				t.Errorf("Detach over %s: %v, want ErrNotSupported", r.Proto, err)
			}
			w.WriteHeader(http.StatusTeapot)
		}))
		srv.EnableHTTP2 = true
		srv.StartTLS()
		defer srv.Close()
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusTeapot {
			t.Errorf("%s %d: the handler could not answer after Detach refused", resp.Proto, resp.StatusCode)
		}
	})
	t.Run("no hijacker", func(t *testing.T) {
		rec := httptest.NewRecorder()
		_, _, err := sse.Detach(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if !errors.Is(err, http.ErrNotSupported) {
			t.Errorf("Detach on a recorder: %v", err)
		}
		if rec.Header().Get("Connection") != "" || rec.Header().Get("Date") != "" {
			t.Errorf("Detach left headers meant for the taken-over connection: %v", rec.Header())
		}
	})
	t.Run("context ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		if _, _, err := sse.Detach(httptest.NewRecorder(), req); !errors.Is(err, sse.ErrClosed) {
			t.Errorf("Detach after the client left: %v", err)
		}
	})
}

// TestDetachDate checks the Date header against the clock: the cached
// text must change with the second and parse back to it.
func TestDetachDate(t *testing.T) {
	for _, at := range []time.Time{time.Unix(1_800_000_000, 0), time.Unix(1_800_000_000, 999_999_999), time.Unix(1_800_000_001, 0)} {
		got := sse.HTTPDateForTest(at)
		parsed, err := http.ParseTime(got)
		if err != nil || !parsed.Equal(at.Truncate(time.Second)) {
			t.Errorf("Date for %v = %q (%v, %v)", at, got, parsed, err)
		}
	}
}
