package hub_test

import (
	"runtime"
	"testing"

	"github.com/heraldsse/herald/hub"
)

// TestServeConnIdleHoldsNoGoroutine checks what makes an idle subscriber
// cheap on Linux: once its connection is handed over, it has no goroutine
// of its own, and a client closing it is still noticed (through epoll).
func TestServeConnIdleHoldsNoGoroutine(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: -1})
	_, first, firstEnded := served(t, h, connPair, hub.ConnOptions{}, "a") // starts the hub's poller
	before := runtime.NumGoroutine()
	const n = 200
	for range n {
		served(t, h, connPair, hub.ConnOptions{}, "a")
	}
	if grew := runtime.NumGoroutine() - before; grew > n/10 {
		t.Errorf("%d idle subscribers added %d goroutines", n, grew)
	}
	first.Close()
	waitEnd(t, firstEnded)
}
