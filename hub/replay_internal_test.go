package hub

import (
	"strconv"
	"testing"

	"github.com/heraldsse/herald/store/memory"
)

// TestReplayHoldsOnePage checks what bounds a reconnecting client's memory:
// however much history it missed, its subscription holds at most one page
// of it, read when its reader has taken the page before.
func TestReplayHoldsOnePage(t *testing.T) {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := New(Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(t.Context())
	first, err := h.Publish(t.Context(), Message{Topic: "a", Data: "0"})
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for i := 1; i <= n; i++ {
		if _, err := h.Publish(t.Context(), Message{Topic: "a", Data: strconv.Itoa(i)}); err != nil {
			t.Fatal(err)
		}
	}
	sub, err := h.Subscribe(t.Context(), SubscribeRequest{Topics: []string{"a"}, LastEventID: first, MarkReplayed: true})
	if err != nil {
		t.Fatal(err)
	}
	held := func() int {
		sub.mu.Lock()
		defer sub.mu.Unlock()
		return len(sub.backlog)
	}
	if got := held(); got != firstPage {
		t.Fatalf("after Subscribe the subscription holds %d events, want the first page, %d", got, firstPage)
	}
	woken := make(chan struct{}, 1)
	sub.Notify(func() {
		select {
		case woken <- struct{}{}:
		default:
		}
	})
	var buf []byte
	most := 0
	for sub.Replayed() < n || held() > 0 {
		<-woken
		most = max(most, held())
		buf, _ = sub.AppendPending(buf[:0])
	}
	if most > pageSize+1 { // a page, and the marker after the last one
		t.Errorf("the subscription held up to %d events of history at once, want at most a page (%d)", most, pageSize)
	}
}
