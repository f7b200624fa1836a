//go:build unix

package hub

import "syscall"

// rawWriter writes to a connection's descriptor, which the Go runtime keeps
// in non-blocking mode, without parking in the poller. One belongs to each
// of the hub's writers; its callback is made once, so a write allocates
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

// writeTo writes b, returning what the kernel took, and errWouldBlock when
// its buffer is full.
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
	for w.n < len(w.b) {
		m, err := syscall.Write(int(fd), w.b[w.n:])
		if m > 0 {
			w.n += m
		}
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN, err == nil && m <= 0:
			w.err = errWouldBlock
		case err != nil:
			w.err = err
		}
		if w.err != nil {
			break
		}
	}
	return true // never wait: a slow client gets a goroutine of its own
}
