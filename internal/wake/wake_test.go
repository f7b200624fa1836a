package wake

import "testing"

// TestSet checks that a follower that has not yet taken its wake-up does not
// hold the notifier, that a removed follower is not woken, and that Close
// wakes, for good, the followers registered before and after it.
func TestSet(t *testing.T) {
	var s Set
	a, doneA := s.add()
	b, _ := s.add()
	s.Notify()
	s.Notify() // a and b are still full: must not block
	<-a
	<-b
	s.remove(a)
	s.remove(a) // removing twice is harmless
	s.Notify()
	select {
	case <-a:
		t.Error("a removed follower was woken")
	default:
	}
	<-b
	if s.Len() != 1 {
		t.Errorf("Len() = %d, want 1", s.Len())
	}
	s.Close()
	s.Close() // idempotent
	_, doneC := s.add()
	for name, done := range map[string]<-chan struct{}{"registered before Close": doneA, "registered after Close": doneC} {
		select {
		case <-done:
		default:
			t.Errorf("a follower %s is not woken by it", name)
		}
	}
}
