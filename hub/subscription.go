package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"slices"
	"sync"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// SubscribeRequest says what a subscriber wants.
type SubscribeRequest struct {
	// Topics are the patterns to receive: topics, or patterns with "*" and
	// a final "**". At least one, at most Options.MaxTopics.
	Topics []string
	// LastEventID is the ID of the last event the client received, from its
	// Last-Event-ID header. When set, the subscription first replays every
	// stored event after it that matches Topics.
	LastEventID string
	// FromStart, when LastEventID is empty, replays every stored event that
	// matches Topics before the live ones: the current state of a topic
	// whose history is its state, such as a task's progress.
	FromStart bool
}

// Event is an event as a subscriber receives it.
type Event struct {
	// Topic is the topic it was published on; empty for TypeGap.
	Topic string
	// Event is the event, its ID set to the ID the log assigned.
	sse.Event
}

// Subscription is one subscriber's view of the hub: history replayed after
// its last event ID, then live events, in log order, with no gap and no
// duplicate between the two. Get one from [Hub.Subscribe]; it ends with
// [Subscription.Close], when the context given to Subscribe ends, when its
// queue overflows, or when the hub closes.
//
// A Subscription has one reader: either [Subscription.Stream] for an HTTP
// response, or [Subscription.Events] in Go. Close may be called from any
// goroutine.
type Subscription struct {
	h        *Hub
	patterns []string
	lastSeq  uint64 // the hub's follower only

	mu         sync.Mutex
	gap        *sse.Event    // a herald:gap event to send first
	replay     []store.Entry // history still to send, in log order
	queue      []*item       // live events still to send
	spare      []*item
	busy       bool     // an event was queued since the last heartbeat
	threshold  store.ID // live events at or before it were replayed, or were before the client's ID
	replayed   int      // how many history events the subscription started with
	err        error
	farewell   string        // a comment to send when the stream ends
	conn       *connState    // set by ServeConn
	watchToken uint64        // the hub's poller's name for conn; 0 when none
	ready      chan struct{} // has a value when something is pending
	done       chan struct{} // closed when the subscription ends
	stopCtx    func() bool
}

// Subscribe registers a subscription for req.Topics. When req.LastEventID
// is set (or req.FromStart), it reads the history to replay before
// returning, so the subscription starts with it; an ID the log cannot
// resume from makes the subscription start with a [TypeGap] event and then
// everything the log still holds for its topics.
//
// The subscription ends when ctx ends, or on [Subscription.Close]. Errors
// wrap [ErrInvalidTopic], [ErrTooManyTopics], [ErrClosed], or the log's
// error reading history.
func (h *Hub) Subscribe(ctx context.Context, req SubscribeRequest) (*Subscription, error) {
	if len(req.Topics) == 0 {
		return nil, fmt.Errorf("%w: no topic given", ErrTooManyTopics)
	}
	if len(req.Topics) > h.opts.MaxTopics {
		return nil, fmt.Errorf("%w: %d topics, limit %d", ErrTooManyTopics, len(req.Topics), h.opts.MaxTopics)
	}
	patterns := slices.Clone(req.Topics)
	slices.Sort(patterns)
	patterns = slices.Compact(patterns)
	for _, p := range patterns {
		if err := topic.ValidatePattern(p); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrInvalidTopic, err)
		}
	}
	s := &Subscription{
		h:        h,
		patterns: patterns,
		ready:    make(chan struct{}, 1),
		done:     make(chan struct{}),
	}

	// The replay seam: register first, so the queue collects every live
	// event from now on; then read history up to the head. Live events at
	// or before the last ID history showed are dropped when drained.
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	for _, p := range patterns {
		h.index.Add(p, s)
	}
	h.subs[s] = struct{}{}
	h.mu.Unlock()

	if req.LastEventID != "" || req.FromStart {
		if err := s.readHistory(ctx, req.LastEventID); err != nil {
			s.end(err)
			return nil, fmt.Errorf("hub: replay after %.64q: %w", req.LastEventID, logError(err))
		}
	}
	s.mu.Lock()
	if s.err == nil {
		s.stopCtx = context.AfterFunc(ctx, func() { s.end(ErrUnsubscribed) })
	}
	s.mu.Unlock()
	return s, nil
}

func (s *Subscription) readHistory(ctx context.Context, lastID string) error {
	h := s.h
	var from store.ID
	var gapReason string
	if lastID != "" {
		id, err := store.ParseID(lastID)
		if err != nil {
			gapReason = "unknown"
		}
		from = id
	}
	var replay []store.Entry
	var head store.ID
	read := func(after store.ID) error {
		for e, err := range h.log.After(ctx, after) {
			if err != nil {
				return err
			}
			head = e.ID
			if s.matches(e.Topic) {
				replay = append(replay, e)
			}
		}
		return nil
	}
	err := errors.New("not read")
	if gapReason == "" {
		err = read(from)
		switch {
		case errors.Is(err, store.ErrUnknownID):
			gapReason = "unknown"
		case errors.Is(err, store.ErrEvicted):
			gapReason = "evicted"
		}
	}
	if gapReason != "" {
		from = store.ID{}
		replay, head = replay[:0], store.ID{}
		err = read(from)
	}
	if err != nil {
		return err
	}
	if head.Compare(from) < 0 {
		head = from
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	if gapReason != "" {
		data, _ := json.Marshal(struct {
			LastEventID string `json:"lastEventId"`
			Reason      string `json:"reason"`
		}{lastID, gapReason})
		s.gap = &sse.Event{Type: TypeGap, Data: string(data)}
		h.gaps.Add(1)
	}
	s.replay = replay
	s.replayed = len(replay)
	s.threshold = head
	h.replays.Add(1)
	if s.gap != nil || len(replay) > 0 {
		s.signal()
	}
	return nil
}

func (s *Subscription) matches(t string) bool {
	for _, p := range s.patterns {
		if topic.Match(p, t) {
			return true
		}
	}
	return false
}

// push queues a live event without ever blocking. It reports false when
// the queue is full: the caller (the follower, which holds the hub's read
// lock) then ends the subscription as too slow once it has let go.
func (s *Subscription) push(it *item) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return true
	}
	if len(s.queue) >= s.h.opts.QueueSize {
		return false
	}
	s.queue = append(s.queue, it)
	s.busy = true
	s.signal()
	return true
}

// releaseIdleLocked drops the queue's arrays of a subscription that got no
// event since the last heartbeat: a burst leaves each subscriber two
// arrays as large as the burst, kept so the next one allocates nothing,
// but an idle subscriber should cost as little as possible. s.mu is held.
func (s *Subscription) releaseIdleLocked() {
	if !s.busy {
		s.spare = nil
		if len(s.queue) == 0 {
			s.queue = nil
		}
	}
	s.busy = false
}

func (s *Subscription) signal() {
	if s.conn != nil {
		s.conn.wake(s)
		return
	}
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// end unregisters the subscription and records why it ended.
func (s *Subscription) end(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	close(s.done)
	if s.conn != nil {
		s.conn.ended(s)
	}
	stop := s.stopCtx
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	h := s.h
	h.mu.Lock()
	for _, p := range s.patterns {
		h.index.Remove(p, s)
	}
	delete(h.subs, s)
	h.mu.Unlock()
}

// Replayed returns how many events of history the subscription started
// with (not counting a [TypeGap] notice): zero when it asked for no replay
// or history held nothing for its topics.
func (s *Subscription) Replayed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replayed
}

// Close ends the subscription. It is safe to call more than once and from
// any goroutine.
func (s *Subscription) Close() { s.end(ErrUnsubscribed) }

// CloseWithComment ends the subscription like Close, and has the stream
// serving it ([Subscription.Stream] or [Subscription.ServeConn]) send text
// as a comment, telling the client why, before it ends.
func (s *Subscription) CloseWithComment(text string) {
	s.mu.Lock()
	if s.err == nil {
		s.farewell = text
	}
	s.mu.Unlock()
	s.end(ErrUnsubscribed)
}

// Done returns a channel closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is open, then why it ended:
// [ErrUnsubscribed], [ErrSlowSubscriber] or [ErrClosed].
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Ready returns a channel that has a value when events are pending. A
// reader waits on it, then calls [Subscription.AppendPending].
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// take removes everything pending.
func (s *Subscription) take() (gap *sse.Event, replay []store.Entry, queue []*item, threshold store.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gap, replay, queue = s.gap, s.replay, s.queue
	s.gap, s.replay = nil, nil
	s.queue, s.spare = s.spare[:0], nil
	return gap, replay, queue, s.threshold
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

// AppendPending appends the wire bytes of every pending event to buf, in
// order (a gap notice, then replayed history, then live events), and
// returns the extended buffer. Live events are shared, already encoded
// bytes; with room in buf, appending them allocates nothing.
func (s *Subscription) AppendPending(buf []byte) []byte {
	s.mu.Lock()
	gap, replay := s.gap, s.replay
	s.gap, s.replay = nil, nil
	s.mu.Unlock()
	// History is encoded outside the lock: it can be long, and the
	// follower queues live events meanwhile.
	if gap != nil {
		buf, _ = sse.AppendEvent(buf, *gap)
	}
	for _, e := range replay {
		buf = appendEntry(buf, e)
	}
	n := len(replay)
	// Live events' bytes are copied under the lock, so the queue array is
	// reused in place: a subscriber holds one array, grown only by a burst
	// larger than any before.
	s.mu.Lock()
	for i, it := range s.queue {
		if it.entry.ID.Compare(s.threshold) > 0 {
			buf = append(buf, it.wire...)
			n++
		}
		s.queue[i] = nil
	}
	s.queue = s.queue[:0]
	s.mu.Unlock()
	s.h.delivered.Add(uint64(n))
	return buf
}

func appendEntry(buf []byte, e store.Entry) []byte {
	buf = append(buf, "id: "...)
	buf = e.ID.Append(buf)
	buf = append(buf, '\n')
	ev := e.Event
	ev.ID = ""
	out, err := sse.AppendEvent(buf, ev)
	if err != nil {
		out, _ = sse.AppendEvent(buf, sse.Event{Type: "herald:invalid"})
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

func (s *Subscription) yieldPending(yield func(Event, error) bool) bool {
	gap, replay, queue, threshold := s.take()
	var evs []Event
	if gap != nil {
		evs = append(evs, Event{Event: *gap})
	}
	for _, e := range replay {
		evs = append(evs, entryEvent(e))
	}
	for _, it := range queue {
		if it.entry.ID.Compare(threshold) > 0 {
			evs = append(evs, entryEvent(it.entry))
		}
	}
	s.recycle(queue)
	s.h.delivered.Add(uint64(len(evs)))
	for _, ev := range evs {
		if !yield(ev, nil) {
			return false
		}
	}
	return true
}

func entryEvent(e store.Entry) Event {
	ev := e.Event
	ev.ID = e.ID.String()
	return Event{Topic: e.Topic, Event: ev}
}

// Stream writes the subscription to st until either ends: a retry hint
// first, then pending events as they come, all that is pending in one
// write, and a heartbeat comment on each tick of the hub's shared clock.
// When the subscription ends because its queue overflowed, the client is
// told why in a comment; when the hub closes, pending events are sent, then
// a jittered retry hint so clients spread their reconnections. Stream
// returns the reason the stream ended.
func (s *Subscription) Stream(st *sse.Stream) error {
	h := s.h
	buf := sse.AppendRetry(make([]byte, 0, 4096), h.opts.Retry)
	if err := st.WriteEncoded(buf); err != nil {
		return err
	}
	beat := h.heartbeat()
	for {
		buf = buf[:0]
		select {
		case <-s.ready:
			buf = s.AppendPending(buf)
		case <-beat:
			beat = h.heartbeat()
			buf = append(buf, ":\n"...)
		case <-s.done:
			err := s.Err()
			buf = s.appendEnd(buf)
			if len(buf) > 0 {
				_ = st.WriteEncoded(buf)
			}
			return err
		case <-st.Done():
			s.Close()
			return st.Err()
		}
		if len(buf) > 0 {
			if err := st.WriteEncoded(buf); err != nil {
				s.Close()
				return err
			}
		}
		if cap(buf) > 1<<20 {
			buf = make([]byte, 0, 4096) // one burst should not pin a large buffer
		}
	}
}
