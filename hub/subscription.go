package hub

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/presence"
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
	// Filter, when set, is asked about every event the topics match, live
	// or replayed, whether the subscription receives it; it is also the
	// only way a subscription receives events published Private. It runs
	// on the hub's follower and replay readers, never twice at once for one
	// subscription: it must be quick, must not block, and must not call the
	// hub.
	Filter func(*Candidate) bool
	// OwnIDs makes the subscription see each event's OwnID (its publisher's
	// own ID, or GeneratedIDPrefix and the log's ID) instead of the log's
	// ID, on the wire and in Events; LastEventID is then read the same way:
	// an OwnID the history holds resumes after the earliest event bearing
	// it. This is Mercure's identification of events.
	OwnIDs bool
	// ResolveIn, with OwnIDs, are the patterns whose history a publisher's
	// own LastEventID is looked for in; empty means Topics. A cursor names
	// a place in the whole log, not in one topic: a subscriber to one topic
	// may resume from the ID of an event on another (Mercure's discovery
	// hands out the publisher's last ID, whatever its topic).
	ResolveIn []string
	// Quiet leaves out the hub's own notices, TypeGap and TypeReplayed: a
	// client that does not expect them learns of a gap otherwise (see
	// [Subscription.Resumed]).
	Quiet bool
	// Presence, when set and the hub keeps presence, announces the
	// subscription (see [Announce]): its record joins the registry, and its
	// [Subscription.ID] is the subscriber ID.
	Presence *Announce
	// MarkReplayed, when the subscription replays (LastEventID or
	// FromStart), has it send an event of type [TypeReplayed] right after
	// the replayed history and before any live event, whose data says how
	// many events were replayed: {"count": N}. A client learns from it
	// that it has caught up, and how much it had missed; a program reading
	// a topic's history with Events knows where the history ends.
	MarkReplayed bool
}

// Candidate is an event a subscription's Filter is asked about.
type Candidate struct {
	// Topics are the topic the event was published on, then its
	// Message.Also.
	Topics []string
	// Private reports the event was published Private.
	Private bool
	// Memo is the filter's to use: while one event is asked about for
	// several subscriptions in turn, on one goroutine, it keeps what the
	// filter stored in it, so work done for the event (say, parsing its
	// topics) is done once.
	Memo any
}

// Event is an event as a subscriber receives it.
type Event struct {
	// Topic is the topic it was published on; empty for TypeGap.
	Topic string
	// Also are the more topics it was published on ([Message.Also]).
	Also []string
	// Private reports it was published Private.
	Private bool
	// Event is the event, its ID set to the ID the log assigned.
	sse.Event
}

// Subscription is one subscriber's view of the hub: history replayed after
// its last event ID, then live events, in log order, with no gap and no
// duplicate between the two. Get one from [Hub.Subscribe]; it ends with
// [Subscription.Close] or [Subscription.End], when the context given to
// Subscribe ends, when its queue overflows, or when the hub closes.
//
// A Subscription has one reader, which reads it in one of two ways: as
// events, with [Subscription.Events] in Go; or as the bytes of an event
// stream, with [Subscription.Notify] and [Subscription.AppendPending],
// which is how a connection engine (herald's internal/conn) writes it to a
// client without a goroutine per stream. Close, End and Err may be called
// from any goroutine.
type Subscription struct {
	h        *Hub
	patterns []string
	filter   func(*Candidate) bool
	filterMu sync.Mutex // serializes filter: the follower and a replay reader may ask at once
	lastSeq  uint64     // the hub's follower only

	// Guarded by mu, but for ownIDs and quiet, set once at the start. The
	// flags are kept together at the end, so that they share a word: an
	// idle subscription's size is much of what an idle client costs
	// (docs/performance.md).
	mu        sync.Mutex
	replay    *replayState // set when the subscription replays (LastEventID or FromStart), kept for Resumed and Replayed
	backlog   []pending    // replayed history and notices still to send, in order, before the queue
	queue     []*item      // live events still to send
	spare     []*item
	threshold store.ID // live events at or before it were replayed, or were before the client's ID
	wake      func()   // wakes the reader: Notify's function, else a send on ready
	err       error
	farewell  string        // a comment to send when the stream ends
	ready     chan struct{} // Events' wake-up
	done      chan struct{} // closed when the subscription ends
	stopCtx   func() bool
	record    *presence.Subscription // its presence record; nil when not announced
	busy      bool                   // an event was queued since the last Release
	started   bool                   // the stream's opening retry hint was read
	signaled  bool                   // the reader was woken and has not read since
	finished  bool                   // the stream's last words were read
	left      bool                   // its record left the registry
	ownIDs    bool
	quiet     bool
}

// Subscribe registers a subscription for req.Topics. When req.LastEventID
// is set (or req.FromStart), the subscription first replays the history
// after that ID (or all of it), read a page at a time as its reader drains
// it (docs/replay.md), then goes on with live events, with no gap and no
// duplicate between the two. Subscribe reads the first page before
// returning, so a log that cannot be read fails it. An ID the log cannot
// resume from, or history that no longer reaches back to it, makes the
// subscription start with a [TypeGap] event; what history still holds
// follows.
//
// The subscription ends when ctx ends, or on [Subscription.Close]. Errors
// wrap [ErrInvalidTopic], [ErrTooManyTopics], [ErrClosed], or the log's
// error reading history, marked [ErrUnavailable] when the log could not be
// reached.
func (h *Hub) Subscribe(ctx context.Context, req SubscribeRequest) (*Subscription, error) {
	if len(req.Topics) == 0 {
		return nil, fmt.Errorf("%w: no topic given", ErrTooManyTopics)
	}
	if len(req.Topics) > h.opts.MaxTopics {
		return nil, fmt.Errorf("%w: %d, limit %d", ErrTooManyTopics, len(req.Topics), h.opts.MaxTopics)
	}
	patterns := slices.Clone(req.Topics)
	slices.Sort(patterns)
	patterns = slices.Compact(patterns)
	for _, p := range patterns {
		if err := topic.ValidatePattern(p); err != nil {
			return nil, fmt.Errorf("hub: %w", err)
		}
	}
	s := &Subscription{
		h:        h,
		patterns: patterns,
		filter:   req.Filter,
		ownIDs:   req.OwnIDs,
		quiet:    req.Quiet,
		ready:    make(chan struct{}, 1),
		done:     make(chan struct{}),
	}
	s.wake = s.wakeReady
	resume := req.LastEventID != "" || req.FromStart
	if resume {
		scope := patterns
		if len(req.ResolveIn) > 0 {
			scope = req.ResolveIn
			for _, p := range scope {
				if err := topic.ValidatePattern(p); err != nil {
					return nil, fmt.Errorf("hub: resolve in: %w", err)
				}
			}
		}
		from, known, err := h.resolve(ctx, req.LastEventID, req.OwnIDs, scope)
		if err != nil {
			return nil, fmt.Errorf("hub: replay after %.64q: %w", req.LastEventID, logError(err))
		}
		s.replay = newReplay(req.LastEventID, from, known, req.MarkReplayed && !req.Quiet)
	}

	// The replay seam: register first, in replay mode, so the follower
	// notes every live event for it from now on; history is then read up
	// to the head, and past every event the follower noted, before live
	// events are queued (docs/replay.md).
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

	if resume {
		h.replays.Add(1)
		if err := s.readPage(ctx, firstPage); err != nil {
			s.End(err)
			return nil, fmt.Errorf("hub: replay after %.64q: %w", req.LastEventID, logError(err))
		}
	}
	if req.Presence != nil && h.opts.Presence != nil {
		if err := s.join(req.Presence); err != nil {
			s.End(err)
			return nil, fmt.Errorf("hub: presence: %w", err)
		}
	}
	s.mu.Lock()
	if s.err == nil {
		s.stopCtx = context.AfterFunc(ctx, func() { s.End(ErrUnsubscribed) })
	}
	s.mu.Unlock()
	return s, nil
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
	if s.err != nil {
		s.mu.Unlock()
		return true
	}
	if s.replaying() {
		// History is still being read, and will be read past this
		// event: nothing is queued while a client catches up.
		s.replay.saw(it.entry.ID)
		s.mu.Unlock()
		return true
	}
	if it.entry.ID.Compare(s.threshold) <= 0 {
		// Replayed already (the follower was behind the log when the
		// replay caught up with it): nothing to queue.
		s.mu.Unlock()
		return true
	}
	if len(s.queue) >= s.h.opts.QueueSize {
		s.mu.Unlock()
		return false
	}
	s.queue = append(s.queue, it)
	s.busy = true
	wake := s.signalLocked()
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
	return true
}

// accepts reports whether s receives the event e, c being what its filter
// is asked. Only the follower and the replay readers call it, each with its
// own c, and while s replays both may ask at once: filterMu keeps the
// filter's calls one at a time, as SubscribeRequest.Filter promises.
func (s *Subscription) accepts(c *Candidate, e store.Entry) bool {
	if s.filter == nil {
		return !e.Private
	}
	if c.Topics == nil {
		c.Topics = append([]string{e.Topic}, e.Also...)
		c.Private = e.Private
	}
	s.filterMu.Lock()
	defer s.filterMu.Unlock()
	return s.filter(c)
}

// signalLocked returns the function that wakes the reader, to be called
// once s.mu is released, or nil when the reader was woken already and has
// not read since: one wake-up per read, however many events arrive. s.mu
// is held.
func (s *Subscription) signalLocked() func() {
	if s.signaled {
		return nil
	}
	s.signaled = true
	return s.wake
}

// wakeReady is the wake-up of a subscription read with Events.
func (s *Subscription) wakeReady() {
	select {
	case s.ready <- struct{}{}:
	default:
	}
}

// End ends the subscription with err, the reason [Subscription.Err]
// reports from then on; it does nothing if the subscription has ended
// already. Its reader gets what was pending, then the stream's last words
// (see [Subscription.AppendPending]).
func (s *Subscription) End(err error) {
	s.mu.Lock()
	if s.err != nil {
		s.mu.Unlock()
		return
	}
	s.err = err
	stop, wake := s.stopCtx, s.wake
	s.signaled = true
	s.mu.Unlock()
	if stop != nil {
		stop()
	}
	// Unregistered before Done is closed: whoever sees Done sees a hub
	// that has let the subscription go.
	h := s.h
	h.mu.Lock()
	for _, p := range s.patterns {
		h.index.Remove(p, s)
	}
	delete(h.subs, s)
	h.mu.Unlock()
	s.leave()
	close(s.done)
	wake()
}

// Resumed reports whether a subscription made with a LastEventID resumed
// with nothing lost: the ID was one the history knew, and it still held
// every event after it. It is false for a subscription that replays
// nothing, or from the start.
func (s *Subscription) Resumed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.replay != nil && s.replay.from != "" && !s.replay.lost
}

// Replayed returns how many events of history the subscription has read
// so far (not counting notices such as [TypeGap]): zero when it asked for
// no replay or history held nothing for its topics.
func (s *Subscription) Replayed() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.replay == nil {
		return 0
	}
	return s.replay.count
}

// Close ends the subscription with [ErrUnsubscribed]. It is safe to call
// more than once and from any goroutine.
func (s *Subscription) Close() { s.End(ErrUnsubscribed) }

// CloseWithComment ends the subscription like Close, and has its stream
// send text as a comment, telling the client why, before it ends.
func (s *Subscription) CloseWithComment(text string) {
	s.mu.Lock()
	if s.err == nil {
		s.farewell = text
	}
	s.mu.Unlock()
	s.End(ErrUnsubscribed)
}

// Done returns a channel closed when the subscription ends.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns nil while the subscription is open, then why it ended:
// [ErrUnsubscribed], [ErrSlowSubscriber], [ErrOverrun], [ErrClosed], or
// the error given to [Subscription.End].
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}
