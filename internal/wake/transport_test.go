package wake_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"testing"
	"testing/synctest"

	"github.com/heraldsse/herald/internal/wake"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

const epoch = 7

func entry(seq uint64) store.Entry {
	return store.Entry{ID: store.ID{Major: epoch, Minor: seq}, Topic: "t", Event: sse.Event{Data: strconv.FormatUint(seq, 10)}}
}

// put reserves and puts n entries after the head, failing the test if
// Reserve does not succeed at once.
func put(t *testing.T, tr *wake.Transport, n int) {
	t.Helper()
	for range n {
		if err := tr.Reserve(t.Context()); err != nil {
			t.Fatalf("Reserve: %v", err)
		}
		tr.Put(entry(tr.Head() + 1))
	}
}

// reserveAsync calls Reserve in a goroutine and returns where its result
// arrives.
func reserveAsync(ctx context.Context, tr *wake.Transport) <-chan error {
	done := make(chan error, 1)
	go func() { done <- tr.Reserve(ctx) }()
	return done
}

// full returns a transport of size entries whose one follower has read the
// first entry and is paused in its yield while size more are put: the
// ring has no room.
func full(t *testing.T, size int) (tr *wake.Transport, next func() (store.Entry, error, bool), stop func()) {
	t.Helper()
	tr = wake.NewTransport("fake", epoch, size, 0)
	next, stop = iter.Pull2(tr.Follow(t.Context()))
	t.Cleanup(stop)
	put(t, tr, 1)
	next()
	put(t, tr, size)
	return tr, next, stop
}

func returned(ch <-chan error) (error, bool) {
	select {
	case err := <-ch:
		return err, true
	default:
		return nil, false
	}
}

// TestFollowInOrder checks that a follower gets every entry put after
// Follow was called, in order, across chunks, and none from before.
func TestFollowInOrder(t *testing.T) {
	tr := wake.NewTransport("fake", epoch, 1000, 0)
	put(t, tr, 3)
	next, stop := iter.Pull2(tr.Follow(t.Context()))
	defer stop()
	put(t, tr, 600)
	for want := uint64(4); want <= 603; want++ {
		e, err, ok := next()
		if !ok || err != nil || e.ID.Minor != want {
			t.Fatalf("Follow = %v, %v, %v; want entry %d", e.ID, err, ok, want)
		}
	}
}

// TestReserveWaitsForTheSlowestFollower checks the backpressure: with a
// follower that has Size entries unread, Reserve waits; it fails with
// ErrBusy when its context ends, and succeeds as soon as the follower
// reads or leaves. A transport without followers never waits.
func TestReserveWaitsForTheSlowestFollower(t *testing.T) {
	t.Run("no follower, no wait", func(t *testing.T) {
		tr := wake.NewTransport("fake", epoch, 4, 0)
		put(t, tr, 100)
	})
	t.Run("context ends first", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr, _, _ := full(t, 4)
			ctx, cancel := context.WithCancel(t.Context())
			done := reserveAsync(ctx, tr)
			synctest.Wait()
			if err, ok := returned(done); ok {
				t.Fatalf("Reserve with 4 unread of 4 returned %v, want it to wait", err)
			}
			cancel()
			synctest.Wait()
			err, _ := returned(done)
			if !errors.Is(err, store.ErrBusy) || !errors.Is(err, context.Canceled) {
				t.Fatalf("Reserve after its context ended = %v, want ErrBusy and context.Canceled", err)
			}
		})
	})
	t.Run("deadline passes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr, _, _ := full(t, 2)
			ctx, cancel := context.WithTimeout(t.Context(), 5e9)
			defer cancel()
			if err := tr.Reserve(ctx); !errors.Is(err, store.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Reserve = %v, want ErrBusy and DeadlineExceeded", err)
			}
		})
	})
	for _, tc := range []struct {
		name string
		free func(next func() (store.Entry, error, bool), stop func())
	}{
		{"follower reads", func(next func() (store.Entry, error, bool), _ func()) { next() }},
		{"follower leaves", func(_ func() (store.Entry, error, bool), stop func()) { stop() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				tr, next, stop := full(t, 4)
				done := reserveAsync(t.Context(), tr)
				synctest.Wait()
				if err, ok := returned(done); ok {
					t.Fatalf("Reserve with 4 unread of 4 returned %v, want it to wait", err)
				}
				tc.free(next, stop)
				synctest.Wait()
				if err, ok := returned(done); !ok || err != nil {
					t.Fatalf("Reserve once the follower made room = %v (returned %v), want nil", err, ok)
				}
			})
		})
	}
	t.Run("cancel gives back a reservation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			tr := wake.NewTransport("fake", epoch, 2, 0)
			next, stop := iter.Pull2(tr.Follow(t.Context()))
			defer stop()
			put(t, tr, 1)
			next()
			put(t, tr, 1)
			if err := tr.Reserve(t.Context()); err != nil {
				t.Fatal(err)
			}
			done := reserveAsync(t.Context(), tr)
			synctest.Wait()
			if _, ok := returned(done); ok {
				t.Fatal("Reserve returned with the ring promised full")
			}
			tr.Cancel()
			synctest.Wait()
			if err, ok := returned(done); !ok || err != nil {
				t.Fatalf("Reserve after Cancel = %v (returned %v), want nil", err, ok)
			}
		})
	})
}

// TestFollowStartedLate checks that a follower whose iteration starts after
// the ring has moved on by more than its size is told how many it missed,
// then gets the rest.
func TestFollowStartedLate(t *testing.T) {
	tr := wake.NewTransport("fake", epoch, 4, 0)
	seq := tr.Follow(t.Context()) // starts after 0
	put(t, tr, 6)                 // the ring holds 3..6
	var got []string
	for e, err := range seq {
		if err != nil {
			got = append(got, err.Error())
		} else {
			got = append(got, e.Event.Data)
		}
		if len(got) == 5 {
			break
		}
	}
	want := "[fake: follow: 2 entries up to 7-2 were dropped before the iteration started: store: event id evicted from history 3 4 5 6]"
	if fmt.Sprint(got) != want {
		t.Errorf("Follow yielded %v, want %v", got, want)
	}
}

// TestClose checks that Close ends running followers with ErrClosed, and
// that Follow and Reserve fail afterwards, a waiting Reserve included.
func TestClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		tr := wake.NewTransport("fake", epoch, 1, 0)
		followed := make(chan error, 1)
		first, resume := make(chan struct{}), make(chan struct{})
		seq := tr.Follow(t.Context())
		go func() {
			var last error
			n := 0
			for _, err := range seq {
				if err != nil {
					last = err
				} else if n++; n == 1 {
					close(first)
					<-resume // paused in its yield: holds the ring full
				}
			}
			followed <- last
		}()
		put(t, tr, 1)
		<-first
		put(t, tr, 1)
		waiting := reserveAsync(t.Context(), tr)
		synctest.Wait()
		if tr.Followers() != 1 {
			t.Fatalf("Followers() = %d, want 1", tr.Followers())
		}
		tr.Close()
		tr.Close() // idempotent
		close(resume)
		if err := <-followed; !errors.Is(err, store.ErrClosed) {
			t.Errorf("a follower running at Close ended with %v, want ErrClosed", err)
		}
		synctest.Wait()
		if err, ok := returned(waiting); !ok || !errors.Is(err, store.ErrClosed) {
			t.Errorf("Reserve waiting at Close = %v (returned %v), want ErrClosed", err, ok)
		}
		if err := tr.Reserve(t.Context()); !errors.Is(err, store.ErrClosed) {
			t.Errorf("Reserve after Close = %v, want ErrClosed", err)
		}
		for _, err := range tr.Follow(t.Context()) {
			if !errors.Is(err, store.ErrClosed) {
				t.Errorf("Follow after Close yielded %v, want ErrClosed", err)
			}
		}
	})
}
