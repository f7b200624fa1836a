package hub

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/heraldsse/herald/store/memory"
)

// TestIdleSubscriberReleasesQueue checks that a burst's queue arrays, kept
// so the next burst allocates nothing, are let go once a subscriber has
// been idle for a heartbeat: an idle subscriber should cost little memory.
func TestIdleSubscriberReleasesQueue(t *testing.T) {
	h, err := New(Options{Log: memory.New(memory.Options{}), Heartbeat: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	srv, client := net.Pipe()
	defer client.Close()
	go io.Copy(io.Discard, client)
	sub, err := h.Subscribe(t.Context(), SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	sub.ServeConn(srv, ConnOptions{})
	for range 200 {
		if _, err := h.Publish(t.Context(), Message{Topic: "a", Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	held := func() int {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return cap(sub.queue) + cap(sub.spare)
	}
	deadline := time.Now().Add(10 * time.Second)
	for held() > 0 || h.Stats().Delivered < 200 {
		if time.Now().After(deadline) {
			t.Fatalf("after the burst and idle heartbeats, the subscriber still holds room for %d events", held())
		}
		time.Sleep(5 * time.Millisecond) // waiting on the hub's clock, which has no event to await
	}
}
