package wake_test

import (
	"testing"

	"github.com/heraldsse/herald/internal/wake"
)

// TestNotifyNeverBlocks checks that a reader that has not yet taken its
// wake-up does not hold the notifier, and that a removed reader is not woken.
func TestNotifyNeverBlocks(t *testing.T) {
	var s wake.Set
	a, b := make(chan struct{}, 1), make(chan struct{}, 1)
	s.Add(a)
	s.Add(b)
	s.Notify()
	s.Notify() // a and b are still full: must not block
	<-a
	<-b
	s.Remove(a)
	s.Remove(a) // removing twice is harmless
	s.Notify()
	select {
	case <-a:
		t.Error("a removed reader was woken")
	default:
	}
	<-b
	if s.Len() != 1 {
		t.Errorf("Len() = %d, want 1", s.Len())
	}
}
