package conn

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"syscall"
	"time"

	"github.com/heraldsse/herald/sse"
)

// served is one connection given to Serve, and its source.
type served struct {
	e     *Engine
	c     net.Conn
	raw   syscall.RawConn // for writes that must not wait; nil when c has none
	src   Source
	w     *writer
	slot  int
	onEnd func(error)
	out   []byte // bytes to write first: the head, or what a write left; owned by whoever serves

	mu        sync.Mutex
	scheduled bool   // in its writer's queue, or being served
	dirty     bool   // woken while scheduled or blocked
	beat      bool   // a heartbeat is due
	active    bool   // wrote something since the last heartbeat tick
	blocked   bool   // a goroutine of its own is writing: the client reads slowly
	finished  bool   // the connection is closed
	token     uint64 // the poller's name for it; 0 when not watched
	reason    error  // why the engine ended the source; nil if it ended by itself
}

// wake makes sure a writer will look at the connection. The source calls
// it, possibly holding its own lock: wake takes only s.mu and the writer's
// queue lock, and never calls the source.
func (s *served) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.finished:
	case s.blocked, s.scheduled:
		// Whoever writes will look again. A source that ends while a write
		// waits is not cut short: its last words follow within the write
		// timeout, and Close cuts what is still stuck at its deadline.
		s.dirty = true
		s.dirty = true
	default:
		s.scheduled = true
		s.w.enqueue(s)
	}
}

// tick is the heartbeat clock's visit: a connection that wrote nothing
// since the last one gets a heartbeat, and its source may release its
// buffers.
func (s *served) tick() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	idle := !s.active
	s.active = false
	s.beat = s.beat || idle
	s.mu.Unlock()
	if idle {
		s.wake()
	}
	s.src.Release()
}

// serve writes what is pending without waiting on the client. It runs on
// its writer, w.
func (s *served) serve(w *writer) {
	s.mu.Lock()
	s.dirty = false
	beat := s.beat
	s.beat = false
	s.mu.Unlock()

	buf := append(w.buf[:0], s.out...)
	s.out = nil
	buf, ended := s.src.AppendPending(buf)
	wrote := len(buf) > 0
	if beat && !wrote {
		buf = sse.AppendComment(buf, "")
	}
	n, err := 0, error(nil)
	switch {
	case len(buf) == 0:
	case s.raw == nil:
		err = errWouldBlock
	default:
		n, err = w.raw.writeTo(s.raw, buf)
	}
	switch {
	case errors.Is(err, errWouldBlock):
		s.e.writeWaits.Add(1)
		s.out = append(s.out, buf[n:]...)
		s.mu.Lock()
		s.scheduled = false
		s.blocked = true
		s.active = s.active || wrote
		s.mu.Unlock()
		s.e.wg.Go(func() { s.writeBlocking(ended) })
	case err != nil:
		s.endSource(fmt.Errorf("%w: %w", ErrWriteFailed, err))
		s.finish()
	case ended:
		s.finish()
	default:
		s.mu.Lock()
		s.active = s.active || wrote
		if s.dirty {
			s.dirty = false
			w.enqueue(s)
		} else {
			s.scheduled = false
		}
		s.mu.Unlock()
	}
	if cap(buf) > 1<<20 {
		buf = nil // one burst should not pin a large buffer
	}
	w.buf = buf
}

// writeBlocking serves a connection whose client reads slowly, in a
// goroutine of its own, writing with a deadline until nothing is pending;
// the connection then goes back to the writers. ended says whether s.out
// holds the source's last words.
func (s *served) writeBlocking(ended bool) {
	for {
		if len(s.out) > 0 {
			err := s.c.SetWriteDeadline(time.Now().Add(s.e.opts.WriteTimeout))
			if err == nil {
				_, err = s.c.Write(s.out)
			}
			s.out = s.out[:0]
			if err != nil && !ended && !isClosed(s.src.Done()) {
				// A source that ended meanwhile already has its reason.
				s.endSource(s.e.writeError(err))
			}
			if err != nil || ended {
				s.finish()
				return
			}
		}
		s.mu.Lock()
		if !s.dirty {
			s.blocked = false
			s.out = nil
			_ = s.c.SetWriteDeadline(time.Time{})
			s.mu.Unlock()
			return
		}
		s.dirty = false
		s.mu.Unlock()
		s.out, ended = s.src.AppendPending(s.out)
		if ended && len(s.out) == 0 {
			s.finish()
			return
		}
	}
}

// endSource ends the source with err, recording it as why the stream
// ended unless the source had ended already.
func (s *served) endSource(err error) {
	s.mu.Lock()
	if s.reason == nil && !isClosed(s.src.Done()) {
		s.reason = err
	}
	s.mu.Unlock()
	s.src.End(err)
}

// abort ends the stream at once: the source with err, and the connection.
func (s *served) abort(err error) {
	s.endSource(err)
	s.finish()
}

// finish closes the connection once, forgets it and reports the end.
func (s *served) finish() {
	s.mu.Lock()
	if s.finished {
		s.mu.Unlock()
		return
	}
	s.finished = true
	s.blocked = false
	token, reason := s.token, s.reason
	s.mu.Unlock()
	_ = s.c.Close()
	if token != 0 {
		s.e.poller.remove(token)
	}
	s.e.forget(s)
	if s.onEnd != nil {
		s.onEnd(reason)
	}
}

// isClosed reports whether ch is closed, without waiting.
func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// errWouldBlock reports that a write could not go on without waiting.
var errWouldBlock = errors.New("conn: write would block")

// writer writes, in turn, to each connection queued on it.
type writer struct {
	mu    sync.Mutex
	queue []*served
	spare []*served
	wake  chan struct{}
	buf   []byte
	raw   *rawWriter
}

func (w *writer) enqueue(s *served) {
	w.mu.Lock()
	w.queue = append(w.queue, s)
	n := len(w.queue)
	w.mu.Unlock()
	if n == 1 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

func (w *writer) run(stop <-chan struct{}) {
	for {
		select {
		case <-w.wake:
		case <-stop:
			return
		}
		for {
			w.mu.Lock()
			batch := w.queue
			w.queue, w.spare = w.spare[:0], nil
			w.mu.Unlock()
			if len(batch) == 0 {
				break
			}
			for _, s := range batch {
				s.serve(w)
			}
			clear(batch)
			w.spare = batch
		}
	}
}

// maxClientBytes is how much a client may send after its request before
// its stream is ended: an event stream's client has nothing more to say,
// so a little (a pipelined request) is discarded, and a flood is cut off.
const maxClientBytes = 4 << 10

// read watches a connection the poller cannot: a goroutine blocked reading
// it ends the source when the client closes it or floods it.
func (s *served) read() {
	var b [64]byte
	total := 0
	for {
		n, err := s.c.Read(b[:])
		total += n
		switch {
		case err != nil:
			s.endSource(clientGone(err))
			return
		case total > maxClientBytes:
			s.endSource(clientFlooded(total))
			return
		}
	}
}

func clientGone(err error) error {
	return fmt.Errorf("%w: connection closed: %w", ErrClientGone, err)
}

func clientFlooded(n int) error {
	return fmt.Errorf("%w: client sent %d bytes after its request", ErrClientGone, n)
}
