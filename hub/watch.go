package hub

import (
	"fmt"
	"net"
)

// maxClientBytes is how much a client may send after its request before
// its stream is ended: an event stream's client has nothing more to say,
// so a little (a pipelined request) is discarded, and a flood is cut off.
const maxClientBytes = 4 << 10

// watch ends s when its client closes c: through the hub's poller when
// there is one (Linux), else with a goroutine blocked reading c.
func (h *Hub) watch(c net.Conn, s *Subscription) {
	h.mu.RLock()
	p := h.poller
	h.mu.RUnlock()
	if p != nil && p.add(c, s) {
		return
	}
	go func() {
		var b [64]byte
		var total int
		for {
			n, err := c.Read(b[:])
			total += n
			if err != nil {
				s.end(clientClosed(err))
				return
			}
			if total > maxClientBytes {
				s.end(clientFlooded(total))
				return
			}
		}
	}()
}

func clientClosed(err error) error {
	return fmt.Errorf("%w: connection closed: %w", ErrUnsubscribed, err)
}

func clientFlooded(n int) error {
	return fmt.Errorf("%w: client sent %d bytes after its request", ErrUnsubscribed, n)
}
