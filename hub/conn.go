package hub

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"github.com/heraldsse/herald/sse"
)

// ConnOptions configures [Subscription.ServeConn].
type ConnOptions struct {
	// Head is written before anything else: the response head of the HTTP
	// exchange the connection was taken over from (see [sse.Detach]).
	Head []byte
	// WriteTimeout is how long a write may wait on a client that has
	// stopped reading before the subscription ends as too slow. Zero means
	// 10 s.
	WriteTimeout time.Duration
	// OnEnd, when set, is called once, after the connection is closed, with
	// the reason the stream ended, as [Subscription.Stream] would return it.
	OnEnd func(err error)
}

// ServeConn serves the subscription over c, a connection taken over from
// net/http, without a goroutine per connection: the hub's writers, about
// one per core, write each subscriber's pending events in one write when
// they arrive, and a heartbeat on each tick of the hub's shared clock. A
// client slow to read gets a goroutine of its own only while its writes
// wait. The stream carries what [Subscription.Stream] would: the head, a
// retry hint, then events; its end is sent the same way.
//
// ServeConn returns at once. From then on the subscription belongs to the
// connection: it ends when the client closes it, when a write fails or
// times out, on [Subscription.Close], or when the hub closes (which waits
// for the last writes). The context given to Subscribe no longer ends it.
// The subscription must have no other reader.
func (s *Subscription) ServeConn(c net.Conn, opts ConnOptions) {
	h := s.h
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	cs := &connState{c: c, opts: opts, w: h.pool.pick()}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			cs.raw = raw
		}
	}
	cs.out = sse.AppendRetry(append([]byte(nil), opts.Head...), h.opts.Retry)

	h.mu.Lock()
	if h.connsStopped {
		h.mu.Unlock()
		_ = c.Close()
		if opts.OnEnd != nil {
			opts.OnEnd(ErrClosed)
		}
		return
	}
	h.conns[s] = servedConn{c: c, slot: h.nextSlot}
	h.nextSlot = (h.nextSlot + 1) % heartbeatSlots
	if h.poller == nil && !h.pollerTried {
		// Started on first use, not in New: a hub that never serves a
		// connection has no goroutine waiting in a system call.
		h.pollerTried = true
		if p, err := newPoller(); err == nil {
			h.poller = p
			h.wg.Go(p.run)
		}
	}
	h.mu.Unlock()

	s.mu.Lock()
	s.conn = cs
	stop := s.stopCtx
	s.stopCtx = nil
	cs.wake(s)
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	h.watch(c, s)
}

// connState is a subscription's connection, served by one of the hub's
// writers. Its flags are guarded by the subscription's mutex.
type connState struct {
	c    net.Conn
	raw  syscall.RawConn // for writes that must not wait; nil when c has none
	w    *writer
	opts ConnOptions
	out  []byte // bytes still to write first: the head, or what a write left

	scheduled bool // in its writer's queue, or being served
	dirty     bool // something arrived while scheduled or blocked
	beat      bool // a heartbeat is due
	blocked   bool // a goroutine of its own is writing: the client reads slowly
	finished  bool // the connection is closed
}

// wake makes sure a writer will look at the subscription. s.mu is held.
func (cs *connState) wake(s *Subscription) {
	if cs.finished {
		return
	}
	if cs.scheduled || cs.blocked {
		cs.dirty = true
		return
	}
	cs.scheduled = true
	cs.w.enqueue(s)
}

// ended is called, with s.mu held, when the subscription ends: a writer
// sends its last words and closes the connection. A write waiting on a
// client that does not read is cut short.
func (cs *connState) ended(s *Subscription) {
	if cs.blocked {
		_ = cs.c.SetWriteDeadline(time.Now())
	}
	cs.wake(s)
}

// serve writes what the subscription has pending without waiting on the
// client. It runs on w.
func (cs *connState) serve(s *Subscription, w *writer) {
	s.mu.Lock()
	cs.dirty = false
	beat := cs.beat
	cs.beat = false
	s.mu.Unlock()

	buf := append(w.buf[:0], cs.out...)
	cs.out = nil
	final := s.Err() != nil
	if final {
		buf = s.appendEnd(buf)
	} else {
		buf = s.AppendPending(buf)
		if beat && len(buf) == 0 {
			buf = sse.AppendComment(buf, "")
		}
	}
	n, err := 0, error(nil)
	switch {
	case len(buf) == 0:
	case cs.raw == nil:
		err = errWouldBlock
	default:
		n, err = w.raw.writeTo(cs.raw, buf)
	}
	switch {
	case final:
		cs.finish(s, err)
	case err == nil:
		s.mu.Lock()
		if cs.dirty {
			cs.dirty = false
			cs.w.enqueue(s)
		} else {
			cs.scheduled = false
		}
		s.mu.Unlock()
	case errors.Is(err, errWouldBlock):
		s.h.writeWaits.Add(1)
		cs.out = append([]byte(nil), buf[n:]...)
		s.mu.Lock()
		cs.scheduled = false
		cs.blocked = true
		s.mu.Unlock()
		go cs.writeBlocking(s)
	default:
		s.end(fmt.Errorf("%w: %w", errWriteFailed, err))
		cs.finish(s, err)
	}
	if cap(buf) > 1<<20 {
		buf = nil // one burst should not pin a large buffer
	}
	w.buf = buf
}

// writeBlocking serves a subscriber whose client reads slowly, in a
// goroutine of its own, writing with a deadline until nothing is pending;
// the subscription then goes back to the writers.
func (cs *connState) writeBlocking(s *Subscription) {
	for {
		final := s.Err() != nil
		if final {
			cs.out = s.appendEnd(cs.out)
		}
		err := cs.c.SetWriteDeadline(time.Now().Add(cs.opts.WriteTimeout))
		if err == nil {
			_, err = cs.c.Write(cs.out)
		}
		cs.out = cs.out[:0]
		if final {
			cs.finish(s, err)
			return
		}
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) && s.Err() == nil {
				s.h.slow.Add(1)
				s.end(fmt.Errorf("%w: a write waited %v", ErrSlowSubscriber, cs.opts.WriteTimeout))
			} else {
				s.end(fmt.Errorf("%w: %w", errWriteFailed, err))
			}
			cs.finish(s, err)
			return
		}
		s.mu.Lock()
		if !cs.dirty && s.err == nil {
			cs.blocked = false
			cs.out = nil
			_ = cs.c.SetWriteDeadline(time.Time{})
			s.mu.Unlock()
			return
		}
		cs.dirty = false
		s.mu.Unlock()
		if s.Err() == nil {
			cs.out = s.AppendPending(cs.out)
		}
	}
}

// finish closes the connection once and reports the end. err is the last
// write's error, if any.
func (cs *connState) finish(s *Subscription, err error) {
	s.mu.Lock()
	if cs.finished {
		s.mu.Unlock()
		return
	}
	cs.finished = true
	cs.blocked = false
	subErr := s.err
	watched := s.watchToken
	s.mu.Unlock()
	_ = cs.c.Close()
	if watched != 0 {
		s.h.poller.remove(watched)
	}

	h := s.h
	h.mu.Lock()
	delete(h.conns, s)
	if len(h.conns) == 0 && h.connsGone != nil {
		close(h.connsGone)
		h.connsGone = nil
	}
	h.mu.Unlock()

	if cs.opts.OnEnd != nil {
		if errors.Is(subErr, errWriteFailed) && err != nil {
			subErr = err
		}
		cs.opts.OnEnd(subErr)
	}
}

// errWriteFailed marks a subscription ended because writing to its
// connection failed; OnEnd gets the write's own error.
var errWriteFailed = errors.New("hub: write failed")

// appendEnd appends what a stream sends when its subscription has ended:
// why, to a subscriber cut off; pending events and a jittered retry hint,
// when the hub closes; a farewell comment, when one was given.
func (s *Subscription) appendEnd(buf []byte) []byte {
	h := s.h
	err := s.Err()
	switch {
	case errors.Is(err, ErrSlowSubscriber), errors.Is(err, ErrOverrun):
		buf = sse.AppendComment(buf, "herald: disconnected: "+err.Error()+"; reconnect with Last-Event-ID to resume")
	case errors.Is(err, ErrClosed):
		buf = s.AppendPending(buf)
		jitter := time.Duration(rand.Int64N(int64(h.opts.Retry) + 1))
		buf = sse.AppendRetry(buf, h.opts.Retry+jitter)
	}
	s.mu.Lock()
	farewell := s.farewell
	s.farewell = ""
	s.mu.Unlock()
	if farewell != "" {
		buf = sse.AppendComment(buf, farewell)
	}
	return buf
}

// errWouldBlock reports that a write could not go on without waiting.
var errWouldBlock = errors.New("hub: write would block")

// writerPool is the hub's writers: subscribers with something to send
// queue on one, chosen when they attach.
type writerPool struct {
	mu      sync.Mutex
	writers []*writer
	next    int
}

func (p *writerPool) start(n int, wg *sync.WaitGroup, stop <-chan struct{}) {
	for range n {
		w := &writer{wake: make(chan struct{}, 1), raw: newRawWriter()}
		p.writers = append(p.writers, w)
		wg.Go(func() { w.run(stop) })
	}
}

func (p *writerPool) pick() *writer {
	p.mu.Lock()
	defer p.mu.Unlock()
	w := p.writers[p.next%len(p.writers)]
	p.next++
	return w
}

// writer writes, in turn, to each subscriber queued on it.
type writer struct {
	mu    sync.Mutex
	queue []*Subscription
	spare []*Subscription
	wake  chan struct{}
	buf   []byte
	raw   *rawWriter
}

func (w *writer) enqueue(s *Subscription) {
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
				s.conn.serve(s, w)
			}
			clear(batch)
			w.spare = batch
		}
	}
}

// servedConn is a connection given to ServeConn, and the heartbeat slot it
// is beaten in.
type servedConn struct {
	c    net.Conn
	slot int
}

// beatConns marks a heartbeat due on every served connection in slot that
// has been idle since its last heartbeat, and lets those drop their queue
// arrays.
func (h *Hub) beatConns(slot int) {
	h.mu.RLock()
	subs := make([]*Subscription, 0, len(h.conns)/heartbeatSlots+1)
	for s, sc := range h.conns {
		if sc.slot == slot {
			subs = append(subs, s)
		}
	}
	h.mu.RUnlock()
	for _, s := range subs {
		s.mu.Lock()
		// A stream that carried an event since its last heartbeat needs
		// none: proxies saw traffic, and a dead client was written to.
		if cs := s.conn; cs != nil && !s.busy {
			cs.beat = true
			cs.wake(s)
		}
		s.releaseIdleLocked()
		s.mu.Unlock()
	}
}

// writers is how many writer goroutines a hub runs.
func writers() int { return max(runtime.GOMAXPROCS(0), 1) }
