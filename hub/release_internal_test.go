package hub

import (
	"testing"

	"github.com/heraldsse/herald/store/memory"
)

// TestReleaseDropsIdleQueue checks that the queue arrays a burst leaves, kept
// so the next burst allocates nothing, are let go by the first Release
// after one with no event in between: an idle subscriber should cost
// little memory, and a busy one keeps its arrays.
func TestReleaseDropsIdleQueue(t *testing.T) {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := New(Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	sub, err := h.Subscribe(t.Context(), SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	woken := make(chan struct{}, 1)
	sub.Notify(func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	})
	held := func() int {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return cap(sub.queue) + cap(sub.spare)
	}
	var buf []byte
	for range 200 {
		if _, err := h.Publish(t.Context(), Message{Topic: "a", Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	for h.Stats().Delivered < 200 {
		<-woken
		buf, _ = sub.AppendPending(buf[:0])
	}
	sub.Release() // events were queued since the last call: kept
	if held() == 0 {
		t.Fatal("a subscriber busy since the last Release dropped its queue")
	}
	sub.Release() // idle since the last call: dropped
	if n := held(); n != 0 {
		t.Errorf("an idle subscriber still holds room for %d events", n)
	}
}
