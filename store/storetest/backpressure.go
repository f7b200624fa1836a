package storetest

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// RunBackpressure runs the tests of a log that never laps a follower, as
// subtests of t, each inside a testing/synctest bubble: the log must start
// no goroutine outside it, and must be released by the cleanup newLog
// registers.
//
// newLog is called inside the bubble and returns an empty log whose
// running Follow iterations may have at most maxLag entries unread: an
// Append beyond that waits for the slowest to read, and fails with an error
// wrapping [store.ErrBusy] (and the context's error) if its context ends
// first, storing nothing. A log without a running follower never waits.
func RunBackpressure(t *testing.T, newLog func(t *testing.T, maxLag int) store.Log) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(*testing.T, store.Log, int)
	}{
		{"no_follower_no_wait", testNoFollowerNoWait},
		{"append_waits_for_a_follower_that_does_not_read_then_ErrBusy", testAppendWaitsThenBusy},
		{"append_waits_until_its_deadline", testAppendDeadline},
		{"reading_frees_a_waiting_append", testReadingFrees},
		{"a_follower_that_stops_frees_a_waiting_append", testStoppingFrees},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				const maxLag = 4
				tc.test(t, newLog(t, maxLag), maxLag)
			})
		})
	}
}

// appendResult is what an Append started by appendAsync returned.
type appendResult struct {
	entry store.Entry
	err   error
}

func appendAsync(ctx context.Context, l store.Log, data string) <-chan appendResult {
	ch := make(chan appendResult, 1)
	go func() {
		e, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: data}})
		ch <- appendResult{e, err}
	}()
	return ch
}

// stalled starts a follower, appends one entry and lets the follower read
// it and pause in its yield, then appends maxLag more: the follower has
// maxLag unread. It returns the follower's iterator.
func stalled(t *testing.T, l store.Log, maxLag int) (next func() (store.Entry, error, bool), stop func(), appended []store.Entry) {
	t.Helper()
	next, stop = iter.Pull2(l.Follow(t.Context()))
	t.Cleanup(stop)
	appended = appendN(t, l, "t", "first", 1)
	if e, err, ok := next(); !ok || err != nil || !same(e, appended[0]) {
		t.Fatalf("Follow = %s, %v, %v; want %s", show(e), err, ok, show(appended[0]))
	}
	return next, stop, append(appended, appendN(t, l, "t", "fill", maxLag)...)
}

// waiting fails the test unless the Append behind ch is still waiting once
// every goroutine of the bubble is blocked.
func waiting(t *testing.T, ch <-chan appendResult, what string) {
	t.Helper()
	synctest.Wait()
	select {
	case r := <-ch:
		t.Fatalf("%s returned %s, %v; want it to wait for the follower", what, show(r.entry), r.err)
	default:
	}
}

func testNoFollowerNoWait(t *testing.T, l store.Log, maxLag int) {
	seq := l.Follow(t.Context())
	want := appendN(t, l, "t", "e", 10*maxLag)
	// A follower that ran and stopped holds nothing back either. (It
	// started late, so it may first be told that it missed entries.)
	for _, err := range seq {
		if err != nil && !errors.Is(err, store.ErrEvicted) {
			t.Fatal(err)
		}
		if err == nil {
			break
		}
	}
	want = append(want, appendN(t, l, "t", "more", 10*maxLag)...)
	if got := kept(t, l, store.ID{}); len(got) != len(want) {
		t.Errorf("Read(zero) = %d entries, want %d", len(got), len(want))
	}
}

func testAppendWaitsThenBusy(t *testing.T, l store.Log, maxLag int) {
	_, _, appended := stalled(t, l, maxLag)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	ch := appendAsync(ctx, l, "one too many")
	waiting(t, ch, fmt.Sprintf("Append with a follower %d entries behind", maxLag))
	cancel()
	r := <-ch
	if !errors.Is(r.err, store.ErrBusy) || !errors.Is(r.err, context.Canceled) {
		t.Fatalf("Append whose context ended while it waited = %s, %v; want an error wrapping ErrBusy and context.Canceled", show(r.entry), r.err)
	}
	checkEntries(t, "Read(zero) after Append failed with ErrBusy", kept(t, l, store.ID{}), appended)
}

func testAppendDeadline(t *testing.T, l store.Log, maxLag int) {
	stalled(t, l, maxLag)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	start := time.Now()
	_, err := l.Append(ctx, store.Entry{Topic: "t", Event: sse.Event{Data: "late"}})
	if !errors.Is(err, store.ErrBusy) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Append with a deadline and a stalled follower = %v; want ErrBusy and DeadlineExceeded", err)
	}
	if waited := time.Since(start); waited != 5*time.Second {
		t.Errorf("Append waited %v (the bubble's clock), want its whole deadline, 5s", waited)
	}
}

func testReadingFrees(t *testing.T, l store.Log, maxLag int) {
	next, _, appended := stalled(t, l, maxLag)
	ch := appendAsync(t.Context(), l, "waited")
	waiting(t, ch, "Append with a stalled follower")
	// The follower reads on: everything it had unread, then the entry that
	// waited for room, in order.
	var got []store.Entry
	for range maxLag {
		e, err, _ := next()
		if err != nil {
			t.Fatalf("Follow: %v", err)
		}
		got = append(got, e)
	}
	r := <-ch
	if r.err != nil {
		t.Fatalf("Append once the follower read = %v", r.err)
	}
	if e, err, _ := next(); err != nil || !same(e, r.entry) {
		t.Fatalf("Follow after the wait = %s, %v; want %s", show(e), err, show(r.entry))
	}
	checkEntries(t, "Follow while Append waited", got, appended[1:])
}

func testStoppingFrees(t *testing.T, l store.Log, maxLag int) {
	_, stop, _ := stalled(t, l, maxLag)
	ch := appendAsync(t.Context(), l, "waited")
	waiting(t, ch, "Append with a stalled follower")
	stop()
	if r := <-ch; r.err != nil {
		t.Fatalf("Append once the follower stopped = %v", r.err)
	}
}
