//go:build unix

package conn

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// rawWriter writes to a connection's descriptor, which the Go runtime keeps
// in non-blocking mode, without parking in the runtime's poller. One
// belongs to each writer; its callback is made once, so a write allocates
// nothing.
type rawWriter struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

func newRawWriter() *rawWriter {
	w := &rawWriter{}
	w.fn = w.write
	return w
}

// writeTo writes b, returning how much the kernel took, and errWouldBlock
// when its buffer filled first.
func (w *rawWriter) writeTo(raw syscall.RawConn, b []byte) (int, error) {
	w.b, w.n, w.err = b, 0, nil
	err := raw.Write(w.fn)
	n, werr := w.n, w.err
	w.b = nil
	if err != nil {
		return n, err
	}
	return n, werr
}

func (w *rawWriter) write(fd uintptr) bool {
	for w.n < len(w.b) && w.err == nil {
		m, err := unix.Write(int(fd), w.b[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case err == unix.EINTR:
		case err == unix.EAGAIN, err == nil && m <= 0:
			w.err = errWouldBlock
		case err != nil:
			w.err = err
		}
	}
	return true // never wait: a slow client gets a goroutine of its own
}
