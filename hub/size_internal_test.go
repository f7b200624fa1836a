package hub

import (
	"testing"
	"unsafe"
)

// TestSubscriptionSize holds an idle subscription to the 240-byte size
// class it had before the replay state, filters and presence were added:
// an idle client's memory is mostly its subscription and its connection
// (docs/performance.md). State only some subscriptions use goes behind a
// pointer (replayState), and the flags share one word.
func TestSubscriptionSize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes are checked on 64-bit platforms")
	}
	if got := unsafe.Sizeof(Subscription{}); got > 240 {
		t.Errorf("Subscription is %d bytes, want at most 240 (the 240-byte size class)", got)
	}
}
