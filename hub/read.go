package hub

import (
	"context"
	"errors"
	"iter"
	"math/rand/v2"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// This file holds the two ways to read a subscription: as events
// (Events), or as the bytes of an event stream (Notify, AppendPending,
// Release), as a connection engine does.

// Notify sets the function the subscription calls to wake its reader
// when it has something new for it: events pending, or its end. It calls
// it once right away, since a stream always has something to start with
// (its retry hint). wake must not block nor call the subscription; it may
// be called from the hub's dispatch, with the hub's lock held.
//
// Notify makes the caller the subscription's reader, reading it with
// [Subscription.AppendPending]; it must not also use Events.
func (s *Subscription) Notify(wake func()) {
	s.mu.Lock()
	s.wake = wake
	s.signaled = true
	s.mu.Unlock()
	wake()
}

// AppendPending appends to buf the wire bytes of everything the
// subscription has pending, in order, and returns the extended buffer: on
// its first call a retry hint (Options.Retry); then a herald:gap notice,
// replayed history, a herald:replayed marker if asked for, and live
// events. Live events are shared, already encoded bytes; with room in buf,
// appending them allocates nothing.
//
// Once the subscription has ended, AppendPending appends its last words
// and reports ended: why it was cut off, as a comment, if it was too slow
// or the hub overran; what was pending and a retry hint of Options.Retry
// plus a random jitter of up to as much again, if the hub closed; and a
// farewell comment given to CloseWithComment. Later calls append nothing.
func (s *Subscription) AppendPending(buf []byte) (_ []byte, ended bool) {
	s.mu.Lock()
	s.signaled = false
	err, finished := s.err, s.finished
	s.finished = err != nil
	if !s.started {
		s.started = true
		buf = sse.AppendRetry(buf, s.h.opts.Retry)
	}
	s.mu.Unlock()
	switch {
	case finished:
		return buf, true
	case err != nil:
		return s.appendEnd(buf, err), true
	}
	return s.appendEvents(buf), false
}

// appendEvents appends the wire bytes of what is pending: the backlog of
// a replay (history and notices) if there is one, else the live queue. A
// reader woken again comes back for the queue (or the next page).
func (s *Subscription) appendEvents(buf []byte) []byte {
	s.mu.Lock()
	backlog, next := s.takeBacklogLocked()
	if len(backlog) > 0 {
		// History is encoded outside the lock; live events wait for the
		// next read, since they come after it.
		var wake func()
		if len(s.queue) > 0 {
			wake = s.signalLocked()
		}
		s.mu.Unlock()
		if next {
			s.h.replayer.enqueue(s)
		}
		n := 0
		for _, p := range backlog {
			if p.notice != nil {
				buf, _ = sse.AppendEvent(buf, *p.notice)
				continue
			}
			buf = appendEntry(buf, *p.entry, s.ownIDs)
			n++
		}
		clear(backlog)
		s.mu.Lock()
		if s.replaying() {
			s.replay.spare = backlog[:0]
		}
		s.mu.Unlock()
		s.h.delivered.Add(uint64(n))
		if wake != nil {
			wake()
		}
		return buf
	}
	// Live events' bytes are copied under the lock, so the queue array is
	// reused in place: a subscriber holds one array, grown only by a burst
	// larger than any before.
	n := 0
	for i, it := range s.queue {
		if it.entry.ID.Compare(s.threshold) > 0 {
			buf = append(buf, it.wireFor(s)...)
			n++
		}
		s.queue[i] = nil
	}
	s.queue = s.queue[:0]
	s.mu.Unlock()
	if next {
		s.h.replayer.enqueue(s)
	}
	s.h.delivered.Add(uint64(n))
	return buf
}

// hasPending reports whether a backlog or live events wait to be read.
func (s *Subscription) hasPending() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.backlog) > 0 || len(s.queue) > 0
}

// appendEnd appends what a stream sends when its subscription has ended
// with err.
func (s *Subscription) appendEnd(buf []byte, err error) []byte {
	switch {
	case errors.Is(err, ErrSlowSubscriber), errors.Is(err, ErrOverrun):
		buf = sse.AppendComment(buf, "herald: disconnected: "+err.Error()+"; reconnect with Last-Event-ID to resume")
	case errors.Is(err, ErrClosed):
		for s.hasPending() {
			buf = s.appendEvents(buf)
		}
		retry := s.h.opts.Retry
		buf = sse.AppendRetry(buf, retry+time.Duration(rand.Int64N(int64(retry)+1)))
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

// Release drops the queue arrays a subscription kept from its last burst
// if no event was queued since the previous call: a burst leaves it
// arrays as large as the burst, kept so the next one allocates nothing,
// but an idle subscriber should cost as little as possible. A connection
// engine calls it once per heartbeat interval.
func (s *Subscription) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.busy {
		s.spare = nil
		if len(s.queue) == 0 {
			s.queue = nil
		}
	}
	s.busy = false
}

// appendEntry appends e's wire form, with its log ID or, with own, its
// OwnID, to buf: the one encoding of every event the hub sends, live or
// replayed. With a nil buf it allocates one of the size the event needs.
func appendEntry(buf []byte, e store.Entry, own bool) []byte {
	if buf == nil {
		buf = make([]byte, 0, 48+len(e.Event.ID)+len(e.Event.Type)+len(e.Event.Data)+len(e.Event.Data)/32)
	}
	var idBuf [48]byte // two uint64s and a dash: it stays on the stack
	var id []byte
	switch {
	case !own:
		id = e.ID.Append(idBuf[:0])
	case e.Event.ID != "":
		id = append(idBuf[:0], e.Event.ID...)
	default:
		id = e.ID.Append(append(idBuf[:0], GeneratedIDPrefix...))
	}
	out, err := sse.AppendEventID(buf, id, e.Event)
	if err != nil {
		// Publish validated the event; a log that hands back an invalid
		// one is corrupt. Send what cannot break the stream.
		out, _ = sse.AppendEventID(buf, id, sse.Event{Type: "herald:invalid"})
	}
	return out
}

// Events yields the subscription's events in order until it ends or ctx
// ends. The error that ends the iteration is the subscription's error
// ([ErrSlowSubscriber], [ErrClosed], [ErrUnsubscribed]) or ctx's; the
// iteration ends without an error when the caller stops it.
func (s *Subscription) Events(ctx context.Context) iter.Seq2[Event, error] {
	return func(yield func(Event, error) bool) {
		for {
			select {
			case <-s.ready:
			case <-s.done:
				// Deliver what was queued before the end, then report it.
				if !s.yieldPending(yield) {
					return
				}
				yield(Event{}, s.Err())
				return
			case <-ctx.Done():
				yield(Event{}, ctx.Err())
				return
			}
			if !s.yieldPending(yield) {
				return
			}
		}
	}
}

// take removes everything pending: the backlog of a replay, and the live
// queue, whose events all come after it.
func (s *Subscription) take() (backlog []pending, queue []*item, threshold store.ID) {
	s.mu.Lock()
	s.signaled = false
	backlog, next := s.takeBacklogLocked()
	queue = s.queue
	s.queue, s.spare = s.spare[:0], nil
	threshold = s.threshold
	s.mu.Unlock()
	if next {
		s.h.replayer.enqueue(s)
	}
	return backlog, queue, threshold
}

// recycle gives a drained queue back for reuse.
func (s *Subscription) recycle(q []*item) {
	clear(q)
	s.mu.Lock()
	if s.spare == nil && cap(q) <= 4*s.h.opts.QueueSize {
		s.spare = q[:0]
	}
	s.mu.Unlock()
}

func (s *Subscription) yieldPending(yield func(Event, error) bool) bool {
	backlog, queue, threshold := s.take()
	evs := make([]Event, 0, len(backlog)+len(queue))
	delivered := 0
	for _, p := range backlog {
		if p.notice != nil {
			evs = append(evs, Event{Event: *p.notice})
			continue
		}
		evs = append(evs, s.eventOf(*p.entry))
		delivered++
	}
	for _, it := range queue {
		if it.entry.ID.Compare(threshold) > 0 {
			evs = append(evs, s.eventOf(it.entry))
			delivered++
		}
	}
	s.recycle(queue)
	s.h.delivered.Add(uint64(delivered))
	for _, ev := range evs {
		if !yield(ev, nil) {
			return false
		}
	}
	return true
}

// eventOf is e as the subscription's Events yields it.
func (s *Subscription) eventOf(e store.Entry) Event {
	ev := e.Event
	if s.ownIDs {
		ev.ID = OwnID(e)
	} else {
		ev.ID = e.ID.String()
	}
	return Event{Topic: e.Topic, Also: e.Also, Private: e.Private, Event: ev}
}
