// Package wake keeps the wake-up channels of the readers that follow a log,
// so an appender can tell them there is something new without ever waiting
// on one, and runs a follower's loop ([Follow]) for the stores.
package wake

import "slices"

// Set holds wake-up channels, each buffered with room for one value. The
// zero Set is empty and ready to use. It does no locking: its owner guards
// it with the same mutex that guards what the readers read.
type Set struct {
	chans []chan struct{}
}

// Add registers ch, a channel buffered with room for one value.
func (s *Set) Add(ch chan struct{}) { s.chans = append(s.chans, ch) }

// Remove unregisters ch, if it is there.
func (s *Set) Remove(ch chan struct{}) {
	if i := slices.Index(s.chans, ch); i >= 0 {
		last := len(s.chans) - 1
		s.chans[i] = s.chans[last]
		s.chans[last] = nil
		s.chans = s.chans[:last]
	}
}

// Notify wakes every reader with a non-blocking send: a reader already
// woken reads everything new when it runs, so one pending value is enough.
func (s *Set) Notify() {
	for _, ch := range s.chans {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// Len returns how many readers are registered.
func (s *Set) Len() int { return len(s.chans) }
