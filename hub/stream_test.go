package hub_test

import (
	"bytes"
	"context"
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
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
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
// on open, one heartbeat comment per tick of the hub's clock, events as
// published, and on Close the pending events then a jittered retry hint.
func TestStreamHeartbeatsAndShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), Heartbeat: 10 * time.Second, Retry: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{header: http.Header{}}
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/events?topic=a", nil)
		st, err := sse.Open(rec, req, &sse.Options{Heartbeat: -1})
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- sub.Stream(st) }()

		synctest.Wait()
		if got := rec.String(); got != "retry: 2000\n\n" {
			t.Fatalf("on open: %q, want the retry hint", got)
		}
		time.Sleep(25 * time.Second) // fake time: two ticks
		synctest.Wait()
		if got := strings.Count(rec.String(), ":\n"); got != 2 {
			t.Errorf("after 25s: %d heartbeats, want 2: %q", got, rec.String())
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
		if err := <-done; err == nil {
			t.Error("Stream returned nil after the hub closed")
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
		h, _ := hub.New(hub.Options{Log: memory.New(memory.Options{}), QueueSize: 2, Heartbeat: -1})
		defer h.Close(context.Background())
		sub, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
		for range 3 { // nobody drains: the third overflows
			h.Publish(t.Context(), hub.Message{Topic: "a", Data: "x"})
		}
		synctest.Wait()
		rec := &recorder{header: http.Header{}}
		st, _ := sse.Open(rec, httptest.NewRequestWithContext(t.Context(), "GET", "/", nil), &sse.Options{Heartbeat: -1})
		defer st.Close()
		err := sub.Stream(st)
		if err == nil || !strings.Contains(rec.String(), ": herald: disconnected: hub: subscriber too slow") {
			t.Errorf("Stream = %v, wrote %q; want the slow-subscriber comment", err, rec.String())
		}
	})
}
