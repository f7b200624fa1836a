package hub

import (
	"fmt"
	"net"
)

// maxClientBytes is how much a client may send after its request before
// its stream is ended: an event stream's client has nothing more to say,
// so a little (a pipelined request) is discarded, and a flood is cut off.
const maxClientBytes = 4 << 10

// watch ends s when its client closes c.
func (h *Hub) watch(c net.Conn, s *Subscription) {
	go func() {
		var b [64]byte
		var total int
		for {
			n, err := c.Read(b[:])
			total += n
			if err != nil {
				s.end(fmt.Errorf("%w: connection closed: %w", ErrUnsubscribed, err))
				return
			}
			if total > maxClientBytes {
				s.end(fmt.Errorf("%w: client sent %d bytes after its request", ErrUnsubscribed, total))
				return
			}
		}
	}()
}
