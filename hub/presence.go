package hub

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/heraldsse/herald/presence"
)

// Presence, when a hub keeps it (Options.Presence), is the record of every
// subscription made with a SubscribeRequest.Presence: registered in the
// registry when the subscription starts, removed when it ends, each change
// announced by the events Options.PresenceEvents returns. docs/presence.md
// describes the model.

// Announce is how a subscription appears in the hub's presence registry.
type Announce struct {
	// Topics are what the record says the subscription selects. Nil means
	// its SubscribeRequest.Topics, as herald patterns.
	Topics []presence.Matcher
	// Payload is the payload claim of the subscriber's token, as JSON, or
	// nil.
	Payload json.RawMessage
}

// ID returns the subscriber ID the hub generated for a subscription made
// with a SubscribeRequest.Presence on a hub that keeps presence (unique per
// subscription, never taken from the client), or "" for any other.
func (s *Subscription) ID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.record == nil {
		return ""
	}
	return s.record.ID
}

// join registers s in the presence registry and announces it.
func (s *Subscription) join(a *Announce) error {
	h := s.h
	rec := presence.Subscription{ID: presence.NewID(), Topics: a.Topics, Payload: a.Payload}
	if rec.Topics == nil {
		for _, p := range s.patterns {
			rec.Topics = append(rec.Topics, presence.Matcher{Kind: presence.KindHerald, Value: p})
		}
	}
	rec, err := h.opts.Presence.Join(rec)
	if err != nil {
		return err
	}
	h.announcer.announce(rec, true)
	s.mu.Lock()
	s.record = &rec
	ended := s.err != nil
	s.mu.Unlock()
	if ended { // it ended while joining: End found no record to leave
		s.leave()
	}
	return nil
}

// leave removes s from the presence registry and announces it, once.
func (s *Subscription) leave() {
	s.mu.Lock()
	rec, left := s.record, s.left
	s.left = s.record != nil
	s.mu.Unlock()
	if rec == nil || left {
		return
	}
	h := s.h
	if err := h.opts.Presence.Leave(rec.ID); err != nil {
		h.opts.Logger.Warn("hub: presence: leave", "subscriber", rec.ID, "err", err)
	}
	h.announcer.announce(*rec, false)
}

// Presence returns the hub's presence registry, or nil when it keeps none.
func (h *Hub) Presence() presence.Registry { return h.opts.Presence }

// announcer publishes presence events, in the order of the changes, from a
// goroutine of its own: a subscription's end never waits for the log.
type announcer struct {
	h     *Hub
	mu    sync.Mutex
	queue []change
	wake  chan struct{}
	stop  chan struct{} // closed by finish: drain, then return
	done  chan struct{} // closed when run returns
}

type change struct {
	s      presence.Subscription
	active bool
}

func (a *announcer) start(h *Hub) {
	a.h = h
	a.wake = make(chan struct{}, 1)
	a.stop = make(chan struct{})
	a.done = make(chan struct{})
	go a.run()
}

// announce queues a change; it never waits.
func (a *announcer) announce(s presence.Subscription, active bool) {
	a.mu.Lock()
	a.queue = append(a.queue, change{s, active})
	a.mu.Unlock()
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// publishTimeout bounds each presence event's append.
const publishTimeout = 5 * time.Second

func (a *announcer) run() {
	defer close(a.done)
	h := a.h
	for {
		a.mu.Lock()
		batch := a.queue
		a.queue = nil
		a.mu.Unlock()
		if len(batch) == 0 {
			select {
			case <-a.wake:
				continue
			case <-a.stop:
				a.mu.Lock()
				empty := len(a.queue) == 0
				a.mu.Unlock()
				if empty {
					return
				}
				continue
			}
		}
		if h.opts.PresenceEvents == nil {
			continue
		}
		for _, c := range batch {
			for _, m := range h.opts.PresenceEvents(c.s, c.active) {
				if err := h.check(m, true); err != nil {
					h.opts.Logger.Error("hub: presence: invalid event", "topic", m.Topic, "err", err)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), publishTimeout)
				_, err := h.append(ctx, m)
				cancel()
				if err != nil {
					h.opts.Logger.Warn("hub: presence: publish", "topic", m.Topic, "err", err)
				}
			}
		}
	}
}

// finish waits until every queued change is published, or ctx ends.
func (a *announcer) finish(ctx context.Context) error {
	close(a.stop)
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
