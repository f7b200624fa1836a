package conn_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/conn"
	"github.com/heraldsse/herald/sse"
)

// recorder is a ResponseWriter that can be read while a stream writes to it.
type recorder struct {
	mu     sync.Mutex
	header http.Header
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(int)     {}
func (r *recorder) Flush()              {}
func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.Write(p)
}
func (r *recorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.body.String()
}

// TestStreamHeartbeatsAndShutdown runs a stream on fake time: a retry hint
// on open, one heartbeat comment per interval of the engine's clock while
// idle, events as published, and when the hub closes the pending events
// then a jittered retry hint.
func TestStreamHeartbeatsAndShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, hub.Options{Retry: 2 * time.Second})
		e := conn.New(conn.Options{Heartbeat: 10 * time.Second})
		defer e.Close(context.Background())
		sub := subscribe(t, h, "a")
		rec := &recorder{header: http.Header{}}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events?topic=a", nil)
		st, err := sse.Open(rec, req, sse.Options{Heartbeat: -1})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- e.Stream(st, sub) }()

		synctest.Wait()
		if got := rec.String(); got != "retry: 2000\n\n" {
			t.Fatalf("on open: %q, want the retry hint", got)
		}
		// Fake time. The retry hint was traffic, so the tick at 10s sends no
		// heartbeat; the ticks at 20s and 30s each send one.
		time.Sleep(35 * time.Second)
		synctest.Wait()
		if got := strings.Count(rec.String(), ":\n"); got != 2 {
			t.Errorf("after 35s: %d heartbeats, want 2: %q", got, rec.String())
		}
		id, _ := h.Publish(t.Context(), hub.Message{Topic: "a", Data: "hello"})
		synctest.Wait()
		if want := "id: " + id + "\ndata: hello\n\n"; !strings.HasSuffix(rec.String(), want) {
			t.Errorf("after publish: %q, want it to end with %q", rec.String(), want)
		}
		last, _ := h.Publish(t.Context(), hub.Message{Topic: "a", Data: "last"})
		if err := h.Close(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Errorf("Stream = %v after the hub closed, want nil", err)
		}
		st.Close()
		d := sse.NewDecoder(strings.NewReader(rec.String()))
		var evs []string
		for {
			ev, err := d.Next()
			if err == io.EOF {
				break
			}
			evs = append(evs, ev.Data)
		}
		if fmt.Sprint(evs) != "[hello last]" || d.LastEventID() != last {
			t.Errorf("events %q last id %s, want [hello last] and %s", evs, d.LastEventID(), last)
		}
		if r, _ := d.Retry(); r < 2*time.Second || r > 4*time.Second {
			t.Errorf("retry hint after shutdown = %v, want within [2s, 4s]", r)
		}
	})
}

// TestStreamSlowSubscriberToldWhy checks that a stream cut off as too slow
// gets a comment saying why before it ends.
func TestStreamSlowSubscriberToldWhy(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHub(t, hub.Options{QueueSize: 2})
		e := conn.New(conn.Options{Heartbeat: -1})
		defer e.Close(context.Background())
		sub := subscribe(t, h, "a")
		for range 3 { // nobody drains: the third overflows
			h.Publish(t.Context(), hub.Message{Topic: "a", Data: "x"})
		}
		synctest.Wait()
		rec := &recorder{header: http.Header{}}
		st, _ := sse.Open(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/", nil), sse.Options{Heartbeat: -1})
		defer st.Close()
		err := e.Stream(st, sub)
		if err != nil || !strings.Contains(rec.String(), ": herald: disconnected: hub: subscriber too slow") {
			t.Errorf("Stream = %v, wrote %q; want nil and the slow-subscriber comment", err, rec.String())
		}
		if !errors.Is(sub.Err(), hub.ErrSlowSubscriber) {
			t.Errorf("subscription ended with %v", sub.Err())
		}
	})
}
