package hub_test

import (
	"context"
	"errors"
	"iter"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

// lossyLog is a memory log whose Follow reports, on demand, that entries
// were evicted before the follower read them, as a real log does when its
// follower falls a whole ring behind.
type lossyLog struct {
	*memory.Log
	evict chan struct{}
}

func (l lossyLog) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	inner := l.Log.Follow(ctx)
	return func(yield func(store.Entry, error) bool) {
		next, stop := iter.Pull2(inner)
		defer stop()
		for {
			select {
			case <-l.evict:
				if !yield(store.Entry{}, store.ErrEvicted) {
					return
				}
				continue
			default:
			}
			e, err, ok := next()
			if !ok || !yield(e, err) {
				return
			}
		}
	}
}

// TestOverrunDisconnectsEverySubscriber checks that when the hub misses
// events because its log evicted them before dispatch, no subscriber goes
// on as if its stream were whole: each ends with ErrOverrun, to reconnect
// and replay.
func TestOverrunDisconnectsEverySubscriber(t *testing.T) {
	log := lossyLog{memory.New(memory.Options{}), make(chan struct{}, 1)}
	h := newHub(t, hub.Options{Log: log})
	a, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	b, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"b/**"}})
	publish(t, h, "a", "1")
	collect(t, a, 1)
	log.evict <- struct{}{}
	publish(t, h, "a", "2") // wakes the follower, which first reports the loss
	for _, sub := range []*hub.Subscription{a, b} {
		<-sub.Done()
		if err := sub.Err(); !errors.Is(err, hub.ErrOverrun) {
			t.Errorf("Err() = %v, want ErrOverrun", err)
		}
	}
}
