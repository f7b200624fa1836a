package sse

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// Options configures a [Stream]. It is passed by value; its zero value
// gives the defaults.
type Options struct {
	// Retry is the reconnection time sent to the client when the stream
	// opens. Zero sends none, and the client keeps its own (3 s in browsers).
	Retry time.Duration
	// Heartbeat is how long the stream may stay silent before a comment is
	// sent to keep proxies from closing it and to notice a client that has
	// gone. Zero means 15 s; a negative value sends no heartbeats.
	Heartbeat time.Duration
	// WriteTimeout bounds each write and flush, so a client that stops
	// reading cannot hold the handler forever. Zero means 10 s; a negative
	// value sets no deadline.
	WriteTimeout time.Duration
}

// Default values for [Options] fields left zero.
const (
	DefaultHeartbeat    = 15 * time.Second
	DefaultWriteTimeout = 10 * time.Second
)

// Stream writes events to one client from a net/http handler. Get one from
// [Open], and Close it before the handler returns.
//
// Each Send, Comment and heartbeat is written and flushed at once. A Stream
// is safe for concurrent use; once the client has gone or a write has
// failed, every method that writes returns an error and [Stream.Done] is
// closed.
type Stream struct {
	w    http.ResponseWriter
	rc   *http.ResponseController
	req  *http.Request
	opts Options

	mu        sync.Mutex
	buf       []byte
	err       error // why the stream ended; nil while it is open
	lastWrite time.Time
	heartbeat *time.Timer
	done      chan struct{}
	stopCtx   func() bool
}

// Open starts an event stream on w in answer to r: it sends status 200 with
// Content-Type text/event-stream, Cache-Control no-cache and
// X-Accel-Buffering no (so nginx does not buffer), then the retry hint if
// opts sets one, and flushes.
//
// Open fails, before writing anything, when the request's context has
// already ended ([ErrClosed]); it fails after writing the header when w
// cannot flush (an error matching [net/http.ErrNotSupported]) or the first
// write fails.
func Open(w http.ResponseWriter, r *http.Request, opts Options) (*Stream, error) {
	s := &Stream{w: w, rc: http.NewResponseController(w), req: r, opts: opts, done: make(chan struct{})}
	if s.opts.Heartbeat == 0 {
		s.opts.Heartbeat = DefaultHeartbeat
	}
	if s.opts.WriteTimeout == 0 {
		s.opts.WriteTimeout = DefaultWriteTimeout
	}
	if err := r.Context().Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	setHeaders(w.Header())
	w.WriteHeader(http.StatusOK)

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.opts.Retry > 0 {
		s.buf = AppendRetry(s.buf[:0], s.opts.Retry)
	}
	if err := s.writeLocked(s.buf); err != nil {
		return nil, err
	}
	s.stopCtx = context.AfterFunc(r.Context(), func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.endLocked(fmt.Errorf("%w: %w", ErrClosed, context.Cause(r.Context())))
	})
	if s.opts.Heartbeat > 0 {
		s.heartbeat = time.AfterFunc(s.opts.Heartbeat, s.beat)
	}
	return s, nil
}

// setHeaders sets an event stream's response headers: its content type,
// no caching, and no buffering by nginx.
func setHeaders(h http.Header) {
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}

// LastEventID returns [LastEventID] of the stream's request.
func (s *Stream) LastEventID() string { return LastEventID(s.req) }

// LastEventIDHeader is the request header in which a reconnecting client
// sends the ID of the last event it received.
const LastEventIDHeader = "Last-Event-ID"

// LastEventID returns the ID of the last event the client of r received:
// the Last-Event-ID request header, which browsers send when they
// reconnect, or, when the header is absent or empty, the lastEventId query
// parameter (for clients that cannot set headers). It is empty on a first
// connection. It is what the client claims, unchecked: a server parses it
// as its own IDs and answers a malformed one as it sees fit.
func LastEventID(r *http.Request) string {
	if id := r.Header.Get(LastEventIDHeader); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}

// Send writes ev and flushes it. It returns an error wrapping
// [ErrInvalidID], [ErrInvalidType] or [ErrInvalidRetry] when ev is not valid
// (the stream stays usable), or the error that ended the stream.
func (s *Stream) Send(ev Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	b, err := AppendEvent(s.buf[:0], ev)
	if err != nil {
		return err
	}
	s.buf = b
	return s.writeLocked(b)
}

// Comment writes text as a comment line, which clients ignore, and flushes.
func (s *Stream) Comment(text string) error {
	return s.write(func(b []byte) []byte { return AppendComment(b, text) })
}

// Retry tells the client to wait d before reconnecting once the stream ends,
// without dispatching an event.
func (s *Stream) Retry(d time.Duration) error {
	return s.write(func(b []byte) []byte { return AppendRetry(b, d) })
}

// write writes and flushes what appendTo appends to the stream's buffer,
// unless the stream has ended.
func (s *Stream) write(appendTo func([]byte) []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.buf = appendTo(s.buf[:0])
	return s.writeLocked(s.buf)
}

// WriteEncoded writes b, which must be whole events, comments or retry
// fields produced by [AppendEvent], [AppendComment] and [AppendRetry], in one
// write and one flush. It lets a publisher encode an event once and send the
// same bytes to many streams.
func (s *Stream) WriteEncoded(b []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return s.writeLocked(b)
}

// Done returns a channel that is closed when the stream ends: the client has
// gone, the request's context ended, a write failed, or Close was called.
func (s *Stream) Done() <-chan struct{} { return s.done }

// Err returns nil while the stream is open, and then why it ended. It wraps
// [ErrClosed] when the request's context ended or Close was called.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the stream: it stops the heartbeat and makes further writes
// fail with [ErrClosed]. It does not close the connection; the handler ends
// the response by returning, which it must do soon after Close. Close is
// safe to call more than once.
func (s *Stream) Close() error {
	if s.stopCtx != nil {
		s.stopCtx()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.endLocked(ErrClosed)
	// Give net/http a fresh deadline to finish the response once the handler
	// returns: the last one may have passed, and none at all would let a
	// client that stopped reading hold the connection's goroutine forever.
	// net/http clears it after the response.
	if s.opts.WriteTimeout > 0 {
		_ = s.rc.SetWriteDeadline(time.Now().Add(s.opts.WriteTimeout))
	}
	return nil
}

func (s *Stream) endLocked(err error) {
	if s.err != nil {
		return
	}
	s.err = err
	close(s.done)
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
}

// writeLocked writes b and flushes within the write timeout. A failure ends
// the stream.
func (s *Stream) writeLocked(b []byte) error {
	now := time.Now()
	if s.opts.WriteTimeout > 0 {
		if err := s.rc.SetWriteDeadline(now.Add(s.opts.WriteTimeout)); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return s.failLocked(err)
		}
	}
	if len(b) > 0 {
		if _, err := s.w.Write(b); err != nil {
			return s.failLocked(err)
		}
	}
	if err := s.rc.Flush(); err != nil {
		return s.failLocked(err)
	}
	if s.opts.WriteTimeout > 0 {
		// The deadline bounds this write only. Left set, it would end an
		// idle HTTP/2 stream when it passed: net/http resets a stream whose
		// write deadline passes, writing or not.
		if err := s.rc.SetWriteDeadline(time.Time{}); err != nil && !errors.Is(err, http.ErrNotSupported) {
			return s.failLocked(err)
		}
	}
	s.lastWrite = now
	return nil
}

func (s *Stream) failLocked(err error) error {
	err = fmt.Errorf("sse: write to %s: %w", s.req.RemoteAddr, err)
	s.endLocked(err)
	return err
}

// beat runs on the heartbeat timer: it sends a comment when the stream has
// been silent for a whole interval, then re-arms the timer.
func (s *Stream) beat() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return
	}
	next := s.opts.Heartbeat
	if idle := time.Since(s.lastWrite); idle < s.opts.Heartbeat {
		next -= idle
	} else {
		s.buf = AppendComment(s.buf[:0], "")
		if s.writeLocked(s.buf) != nil {
			return
		}
	}
	s.heartbeat.Reset(next)
}
