// Package wake is what the stores that number their entries by one
// sequence (store/memory and store/bolt) share: the wake-up channels of the
// readers that follow a log ([Set]), so an appender tells them there is
// something new without ever waiting on one, and the loops of a log's After
// and Follow ([Reader]), so each store writes only how to read one chunk.
package wake

import (
	"slices"
	"sync"
)

// Set holds the wake-up channels of a log's running followers. The zero Set
// is ready to use. It is safe for concurrent use and has a lock of its own,
// taken only for a moment, so an appender may call Notify with or without
// the lock that guards its log held.
type Set struct {
	mu     sync.Mutex
	chans  []chan struct{} // each buffered with room for one value
	done   chan struct{}   // closed by Close; made on first use
	closed bool
}

// add registers a new wake-up channel, buffered with room for one value,
// and returns it with the channel that Close closes.
func (s *Set) add() (wake chan struct{}, done <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	wake = make(chan struct{}, 1)
	s.chans = append(s.chans, wake)
	return wake, s.doneLocked()
}

// remove unregisters wake, if it is there.
func (s *Set) remove(wake chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i := slices.Index(s.chans, wake); i >= 0 {
		last := len(s.chans) - 1
		s.chans[i] = s.chans[last]
		s.chans[last] = nil
		s.chans = s.chans[:last]
	}
}

func (s *Set) doneLocked() chan struct{} {
	if s.done == nil {
		s.done = make(chan struct{})
	}
	return s.done
}

// Notify wakes every follower with a non-blocking send: a follower already
// woken reads everything new when it runs, so one pending value is enough.
func (s *Set) Notify() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, ch := range s.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Close wakes, for good, every follower, those running and those yet to
// start: the log is closed, and their next read reports it. Close is
// idempotent.
func (s *Set) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.doneLocked())
	}
}

// Len returns how many followers are registered.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.chans)
}
