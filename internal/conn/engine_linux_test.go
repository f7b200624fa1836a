package conn_test

import (
	"runtime"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/conn"
)

// TestServeIdleHoldsNoGoroutine checks what makes an idle stream cheap on
// Linux: once its connection is handed over, it has no goroutine of its
// own, and a client closing it is still noticed (through epoll).
func TestServeIdleHoldsNoGoroutine(t *testing.T) {
	h := newHub(t, hub.Options{})
	e := newEngine(t, conn.Options{Heartbeat: -1})
	_, first, firstEnded := served(t, e, h, connPair, "", "a") // starts the engine's poller
	before := runtime.NumGoroutine()
	const n = 200
	for range n {
		served(t, e, h, connPair, "", "a")
	}
	if grew := runtime.NumGoroutine() - before; grew > n/10 {
		t.Errorf("%d idle streams added %d goroutines", n, grew)
	}
	first.Close()
	waitEnd(t, firstEnded)
}
