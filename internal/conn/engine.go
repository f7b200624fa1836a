package conn

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldsse/herald/sse"
)

// Source is what an engine serves: one subscription's bytes. A hub
// subscription implements it.
type Source interface {
	// Notify sets the function the source calls whenever it has something
	// new for its stream: bytes pending, or its end. The source calls it
	// right away when something is pending already. The function never
	// blocks and never calls the source.
	Notify(wake func())
	// AppendPending appends to buf everything the source has pending, in
	// order, and reports whether the source has ended; then buf ends with
	// the stream's last words and nothing more will come.
	AppendPending(buf []byte) (_ []byte, ended bool)
	// Done is closed when the source has ended.
	Done() <-chan struct{}
	// End ends the source with err, why its stream is over.
	End(err error)
	// Release is called once per heartbeat interval: a source that had
	// nothing new since the previous call may drop the buffers it keeps.
	Release()
}

// Options configures an [Engine]. The zero value gives the defaults.
type Options struct {
	// Heartbeat is how often a stream that carried nothing gets a comment,
	// so proxies keep it open and a dead client is found. Zero means 15 s;
	// negative disables heartbeats.
	Heartbeat time.Duration
	// WriteTimeout is how long a write may wait on a client that has
	// stopped reading before its stream ends with [ErrSlowClient]. Zero
	// means 10 s.
	WriteTimeout time.Duration
	// Writers is how many goroutines write to served connections. Zero
	// means GOMAXPROCS.
	Writers int
}

// Stats counts what an engine has done.
type Stats struct {
	Conns       int    // connections served now by Serve
	WriteWaits  uint64 // writes that found the client's buffer full and had to wait
	SlowClients uint64 // streams ended by a write that waited past WriteTimeout
}

// heartbeatSlots is how many groups served connections are beaten in.
const heartbeatSlots = 16

// Engine writes sources to clients' streams. Create one with [New] and
// release it with [Engine.Close]. An Engine is safe for concurrent use.
type Engine struct {
	opts    Options
	writers []*writer

	mu        sync.Mutex
	slots     [heartbeatSlots]map[*served]struct{} // every served connection, by heartbeat group
	conns     int
	nextSlot  int
	next      int         // the writer of the next connection
	closing   atomic.Bool // Close has begun: Serve refuses
	closeOnce sync.Once
	gone      chan struct{} // closed when conns reaches zero, while Close waits for it
	poller    *poller       // notices clients closing; nil where unavailable
	tried     bool          // a poller was tried

	beat atomic.Pointer[chan struct{}] // closed and replaced on every full heartbeat interval
	stop chan struct{}                 // closed when Close is past waiting for connections
	wg   sync.WaitGroup

	writeWaits, slow atomic.Uint64
}

// New returns an engine and starts its writers and heartbeat clock.
func New(opts Options) *Engine {
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 15 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	if opts.Writers <= 0 {
		opts.Writers = max(runtime.GOMAXPROCS(0), 1)
	}
	e := &Engine{opts: opts, stop: make(chan struct{})}
	for i := range e.slots {
		e.slots[i] = make(map[*served]struct{})
	}
	beat := make(chan struct{})
	e.beat.Store(&beat)
	for range opts.Writers {
		w := &writer{wake: make(chan struct{}, 1), raw: newRawWriter()}
		e.writers = append(e.writers, w)
		e.wg.Go(func() { w.run(e.stop) })
	}
	if opts.Heartbeat > 0 {
		e.wg.Go(e.clock)
	}
	return e
}

// Serve serves src over c, a connection taken over from net/http (see
// sse.Detach), from the engine's writers: head first (the response head),
// then src's bytes whenever it has some, each time all that is pending in
// one write, and a heartbeat when it carried nothing for an interval. A
// client slow to read gets a goroutine of its own only while its writes
// wait.
//
// Serve returns at once; from then on src belongs to the connection. The
// stream ends when src ends (its last words are written first), or when
// the client closes c, a write fails or waits past WriteTimeout: then src
// is ended with an error wrapping [ErrClientGone], [ErrWriteFailed] or
// [ErrSlowClient]. c is then closed, and onEnd, when not nil, is called
// once with that error, or nil when src ended first. After Close, Serve
// closes c at once and ends src and the stream with [ErrClosed].
func (e *Engine) Serve(c net.Conn, head []byte, src Source, onEnd func(error)) {
	s := &served{e: e, c: c, src: src, onEnd: onEnd, out: append([]byte(nil), head...)}
	if sc, ok := c.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			s.raw = raw
		}
	}
	e.mu.Lock()
	if e.closing.Load() { // read under mu, so that Close's waitConns sees every connection let in
		e.mu.Unlock()
		_ = c.Close()
		src.End(ErrClosed)
		if onEnd != nil {
			onEnd(ErrClosed)
		}
		return
	}
	s.w = e.writers[e.next%len(e.writers)]
	e.next++
	s.slot = e.nextSlot
	e.nextSlot = (e.nextSlot + 1) % heartbeatSlots
	e.slots[s.slot][s] = struct{}{}
	e.conns++
	if !e.tried {
		// Started on first use, not in New: an engine that never serves a
		// connection has no goroutine waiting in a system call.
		e.tried = true
		if p, err := newPoller(); err == nil {
			e.poller = p
			e.wg.Go(p.run)
		}
	}
	p := e.poller
	// Reserved while Close cannot have begun: the reader below may start
	// after this connection ended and Close reached its wg.Wait.
	e.wg.Add(1)
	e.mu.Unlock()

	s.wake() // the head
	src.Notify(s.wake)
	if p != nil && p.add(s) {
		e.wg.Done()
		return
	}
	go func() {
		defer e.wg.Done()
		s.read()
	}()
}

// Stream serves src over st, a stream net/http keeps (HTTP/2), from the
// calling goroutine: src's bytes whenever it has some, and a heartbeat on
// the engine's clock when it carried nothing for an interval. It returns
// when src ends, having written its last words (nil), or when st fails or
// its client goes (an error wrapping [ErrClientGone], [ErrWriteFailed] or
// [ErrSlowClient], with which src is ended).
func (e *Engine) Stream(st *sse.Stream, src Source) error {
	ready := make(chan struct{}, 1)
	src.Notify(func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	beat := e.heartbeat()
	active := false
	for {
		var wake, beating bool
		select {
		case <-ready:
			wake = true
		case <-beat:
			beating = true
		case <-st.Done():
			err := fmt.Errorf("%w: %w", ErrClientGone, st.Err())
			src.End(err)
			return err
		}
		// The buffer is taken for each write and given back after it, so
		// an idle stream holds none (server's BenchmarkIdleHTTP2Stream).
		bp := streamBufs.Get().(*[]byte)
		buf := (*bp)[:0]
		ended := false
		switch {
		case wake:
			buf, ended = src.AppendPending(buf)
			active = active || len(buf) > 0
		case beating:
			beat = e.heartbeat()
			if !active {
				buf = sse.AppendComment(buf, "")
			}
			active = false
			src.Release()
		}
		var err error
		if len(buf) > 0 {
			err = st.WriteEncoded(buf)
		}
		if cap(buf) <= 1<<20 { // one burst should not pin a large buffer
			*bp = buf[:0]
			streamBufs.Put(bp)
		}
		if err != nil && !ended && !isClosed(src.Done()) {
			err = e.writeError(err)
			src.End(err)
			return err
		}
		if ended {
			return nil
		}
	}
}

// streamBufs are the write buffers of Stream, shared by every stream
// between writes.
var streamBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, 4096)
	return &b
}}

// writeError is why a stream ends after a write failed with err.
func (e *Engine) writeError(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		e.slow.Add(1)
		return fmt.Errorf("%w: a write waited %v", ErrSlowClient, e.opts.WriteTimeout)
	}
	return fmt.Errorf("%w: %w", ErrWriteFailed, err)
}

// heartbeat returns the channel the next full heartbeat interval closes;
// nil, which never fires, when heartbeats are off.
func (e *Engine) heartbeat() <-chan struct{} {
	if e.opts.Heartbeat < 0 {
		return nil
	}
	return *e.beat.Load()
}

// clock beats served connections in heartbeatSlots groups spread over the
// interval, so 15,000 idle streams cost a steady trickle of writes, not a
// burst that delays every live event once per interval; and closes the
// beat channel once per interval for streams served by Stream.
func (e *Engine) clock() {
	t := time.NewTicker(e.opts.Heartbeat / heartbeatSlots)
	defer t.Stop()
	slot := 0
	var group []*served
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
		}
		if slot = (slot + 1) % heartbeatSlots; slot == 0 {
			next := make(chan struct{})
			close(*e.beat.Swap(&next))
		}
		e.mu.Lock()
		for s := range e.slots[slot] {
			group = append(group, s)
		}
		e.mu.Unlock()
		for i, s := range group {
			s.tick()
			group[i] = nil
		}
		group = group[:0]
	}
}

// forget unregisters a finished connection.
func (e *Engine) forget(s *served) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.slots[s.slot], s)
	e.conns--
	if e.conns == 0 && e.gone != nil {
		close(e.gone)
		e.gone = nil
	}
}

// Stats returns the engine's counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	n := e.conns
	e.mu.Unlock()
	return Stats{Conns: n, WriteWaits: e.writeWaits.Load(), SlowClients: e.slow.Load()}
}

// Close stops the engine: Serve refuses new connections from now on, and
// Close waits until every served connection has ended, which its source
// ending brings about (a hub's Close ends every subscription, so close the
// hub first) and has had its last write. When ctx ends first, Close ends
// the rest with [ErrClosed], closing their connections, and returns ctx's
// error. Then the engine's goroutines stop. Streams served by
// [Engine.Stream] belong to their handlers and are not waited for. Later
// calls wait for the first to finish and return nil.
func (e *Engine) Close(ctx context.Context) (err error) {
	e.closeOnce.Do(func() { err = e.close(ctx) })
	return err
}

func (e *Engine) close(ctx context.Context) error {
	e.closing.Store(true)

	err := e.waitConns(ctx)
	close(e.stop)
	e.mu.Lock()
	if e.poller != nil {
		e.poller.stop()
	}
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// waitConns waits until no connection is served. When ctx ends first, it
// ends the rest.
func (e *Engine) waitConns(ctx context.Context) error {
	for {
		e.mu.Lock()
		if e.conns == 0 {
			e.mu.Unlock()
			return nil
		}
		gone := make(chan struct{})
		e.gone = gone
		e.mu.Unlock()
		select {
		case <-gone:
			continue
		case <-ctx.Done():
		}
		e.mu.Lock()
		var rest []*served
		for i := range e.slots {
			for s := range e.slots[i] {
				rest = append(rest, s)
			}
		}
		e.mu.Unlock()
		for _, s := range rest {
			s.abort(ErrClosed)
		}
		return ctx.Err()
	}
}
