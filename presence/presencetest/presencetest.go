// Package presencetest is the conformance suite every [presence.Registry]
// passes: what a hub relies on from the registry of a single node, whatever
// keeps it.
package presencetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/presence"
)

// Run runs the suite. newRegistry returns an empty registry that no other
// registry shares (for a shared one: alone under its own key prefix) and
// that t's cleanup closes.
func Run(t *testing.T, newRegistry func(t *testing.T) presence.Registry) {
	tests := []struct {
		name string
		fn   func(*testing.T, presence.Registry)
	}{
		{"joined subscriptions are found by Get, List and Count", testJoinGetListCount},
		{"Join fills in node and start and keeps a given start", testJoinFillsIn},
		{"Join keeps its own copy of the record", testJoinCopies},
		{"Leave removes the subscription and is idempotent", testLeave},
		{"bad input is refused with ErrInvalid or ErrDuplicate", testBadInput},
		{"List yields every subscription across pages", testListPages},
		{"List while others join and leave yields those present throughout", testListChurn},
		{"List stops when the caller breaks", testListBreak},
		{"List and Get and Count fail with a cancelled context", testCancelled},
		{"concurrent joins and leaves keep the count", testConcurrent},
		{"Watch's stop is idempotent", testWatchStop},
		{"after Close every method fails with ErrClosed", testClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newRegistry(t)) })
	}
}

// Sub returns a valid record with a fresh ID, topics of each kind and a
// payload, for tests.
func Sub(topics ...string) presence.Subscription {
	s := presence.Subscription{ID: presence.NewID(), Payload: []byte(`{"name":"ada"}`)}
	if len(topics) == 0 {
		topics = []string{"chat/lobby"}
	}
	for _, tp := range topics {
		s.Topics = append(s.Topics, presence.Matcher{Kind: presence.KindHerald, Value: tp})
	}
	s.Topics = append(s.Topics,
		presence.Matcher{Kind: presence.KindExact, Value: "https://example.com/books/1"},
		presence.Matcher{Kind: presence.KindURLPattern, Value: "https://example.com/books/:id"})
	return s
}

// Equal reports how got differs from want, or "" when they are the same
// record.
func Equal(got, want presence.Subscription) string {
	var diffs []string
	if got.ID != want.ID {
		diffs = append(diffs, fmt.Sprintf("ID %q, want %q", got.ID, want.ID))
	}
	if got.Node != want.Node {
		diffs = append(diffs, fmt.Sprintf("Node %q, want %q", got.Node, want.Node))
	}
	if !got.Start.Equal(want.Start) {
		diffs = append(diffs, fmt.Sprintf("Start %v, want %v", got.Start, want.Start))
	}
	if fmt.Sprint(got.Topics) != fmt.Sprint(want.Topics) {
		diffs = append(diffs, fmt.Sprintf("Topics %v, want %v", got.Topics, want.Topics))
	}
	if !bytes.Equal(got.Payload, want.Payload) {
		diffs = append(diffs, fmt.Sprintf("Payload %s, want %s", got.Payload, want.Payload))
	}
	return strings.Join(diffs, "; ")
}

// Collect lists r and returns how many times each ID was yielded, with the
// records. It fails t on an error.
func Collect(t testing.TB, r presence.Registry) (map[string]int, map[string]presence.Subscription) {
	t.Helper()
	seen := make(map[string]int)
	subs := make(map[string]presence.Subscription)
	for s, err := range r.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		seen[s.ID]++
		subs[s.ID] = s
	}
	return seen, subs
}

// MustJoin joins s to r and returns the stored record, failing t on an
// error.
func MustJoin(t testing.TB, r presence.Registry, s presence.Subscription) presence.Subscription {
	t.Helper()
	got, err := r.Join(s)
	if err != nil {
		t.Fatalf("Join(%q): %v", s.ID, err)
	}
	return got
}

func checkCount(t *testing.T, r presence.Registry, want int) {
	t.Helper()
	c, err := r.Count(t.Context())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	if c != (presence.Counts{Node: want, Cluster: want}) {
		t.Errorf("Count = %+v, want %d on the node and in the cluster", c, want)
	}
}

func testJoinGetListCount(t *testing.T, r presence.Registry) {
	checkCount(t, r, 0)
	var stored []presence.Subscription
	for _, tp := range []string{"chat/lobby", "chat/*", "news/**"} {
		stored = append(stored, MustJoin(t, r, Sub(tp)))
	}
	for _, want := range stored {
		got, err := r.Get(t.Context(), want.ID)
		if err != nil {
			t.Fatalf("Get(%q): %v", want.ID, err)
		}
		if d := Equal(got, want); d != "" {
			t.Errorf("Get(%q): %s", want.ID, d)
		}
	}
	seen, subs := Collect(t, r)
	if len(seen) != len(stored) {
		t.Errorf("List yielded %d subscriptions, want %d", len(seen), len(stored))
	}
	for _, want := range stored {
		if d := Equal(subs[want.ID], want); d != "" {
			t.Errorf("List, %q: %s", want.ID, d)
		}
	}
	checkCount(t, r, len(stored))
}

func testJoinFillsIn(t *testing.T, r presence.Registry) {
	before := time.Now()
	s := MustJoin(t, r, Sub())
	if s.Node != r.Node() || s.Node == "" {
		t.Errorf("joined record's Node = %q, want the registry's %q", s.Node, r.Node())
	}
	if s.Start.Before(before.Add(-time.Second)) || s.Start.After(time.Now().Add(time.Second)) {
		t.Errorf("joined record's Start = %v, want about now (%v)", s.Start, before)
	}
	start := time.Date(2025, 3, 1, 12, 30, 15, 123456789, time.UTC)
	given := Sub()
	given.Start = start
	given.Node = r.Node() // the registry's own node is accepted
	got := MustJoin(t, r, given)
	stored, err := r.Get(t.Context(), given.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []presence.Subscription{got, stored} {
		if !s.Start.Equal(start) {
			t.Errorf("record with a given Start has Start %v, want %v", s.Start, start)
		}
	}
	noPayload := Sub()
	noPayload.Payload = nil
	MustJoin(t, r, noPayload)
	if s, err := r.Get(t.Context(), noPayload.ID); err != nil || s.Payload != nil {
		t.Errorf("record without payload: Get = %+v, %v; want Payload nil", s, err)
	}
}

func testJoinCopies(t *testing.T, r presence.Registry) {
	s := Sub()
	want := MustJoin(t, r, s).Clone()
	s.Topics[0].Value = "changed/by/caller"
	s.Payload[2] = 'X'
	got, err := r.Get(t.Context(), s.ID)
	if err != nil {
		t.Fatal(err)
	}
	if d := Equal(got, want); d != "" {
		t.Errorf("after the caller changed its record: %s", d)
	}
}

func testLeave(t *testing.T, r presence.Registry) {
	a, b := MustJoin(t, r, Sub()), MustJoin(t, r, Sub())
	if err := r.Leave(a.ID); err != nil {
		t.Fatalf("Leave(%q): %v", a.ID, err)
	}
	if _, err := r.Get(t.Context(), a.ID); !errors.Is(err, presence.ErrNotFound) {
		t.Errorf("Get after Leave = %v, want ErrNotFound", err)
	}
	seen, _ := Collect(t, r)
	if seen[a.ID] != 0 || seen[b.ID] != 1 || len(seen) != 1 {
		t.Errorf("List after Leave(a) = %v, want only b %q", seen, b.ID)
	}
	checkCount(t, r, 1)
	for _, id := range []string{a.ID, presence.NewID()} { // left already; never joined
		if err := r.Leave(id); err != nil {
			t.Errorf("Leave(%q) of an ID not held = %v, want nil", id, err)
		}
	}
	checkCount(t, r, 1)
	// An ID may join again once it left.
	MustJoin(t, r, presence.Subscription{ID: a.ID, Topics: a.Topics})
	checkCount(t, r, 2)
}

func testBadInput(t *testing.T, r presence.Registry) {
	dup := MustJoin(t, r, Sub())
	tests := []struct {
		name string
		edit func(*presence.Subscription)
		want error
	}{
		{"empty ID", func(s *presence.Subscription) { s.ID = "" }, presence.ErrInvalid},
		{"ID with a space", func(s *presence.Subscription) { s.ID = "urn:uuid:a b" }, presence.ErrInvalid},
		{"ID with a newline", func(s *presence.Subscription) { s.ID = "urn:uuid:a\nb" }, presence.ErrInvalid},
		{"ID not UTF-8", func(s *presence.Subscription) { s.ID = "urn:\xff" }, presence.ErrInvalid},
		{"ID too long", func(s *presence.Subscription) { s.ID = strings.Repeat("x", presence.MaxIDLen+1) }, presence.ErrInvalid},
		{"no topics", func(s *presence.Subscription) { s.Topics = nil }, presence.ErrInvalid},
		{"unknown kind", func(s *presence.Subscription) { s.Topics[0].Kind = "regexp" }, presence.ErrInvalid},
		{"kind in the wrong case", func(s *presence.Subscription) { s.Topics[0].Kind = "Exact" }, presence.ErrInvalid},
		{"empty topic value", func(s *presence.Subscription) { s.Topics[1].Value = "" }, presence.ErrInvalid},
		{"topic value not UTF-8", func(s *presence.Subscription) { s.Topics[0].Value = "chat/\xc3" }, presence.ErrInvalid},
		{"start before 1970", func(s *presence.Subscription) { s.Start = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, presence.ErrInvalid},
		{"start after 2262", func(s *presence.Subscription) { s.Start = time.Date(2263, 1, 1, 0, 0, 0, 0, time.UTC) }, presence.ErrInvalid},
		{"payload not JSON", func(s *presence.Subscription) { s.Payload = []byte(`{"a":`) }, presence.ErrInvalid},
		{"another node's record", func(s *presence.Subscription) { s.Node = "some-other-node" }, presence.ErrInvalid},
		{"duplicate ID", func(s *presence.Subscription) { s.ID = dup.ID }, presence.ErrDuplicate},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := Sub()
			tc.edit(&s)
			if got, err := r.Join(s); !errors.Is(err, tc.want) {
				t.Errorf("Join = %+v, %v; want an error wrapping %v", got, err, tc.want)
			}
		})
	}
	if err := r.Leave(""); !errors.Is(err, presence.ErrInvalid) {
		t.Errorf("Leave(\"\") = %v, want ErrInvalid", err)
	}
	if _, err := r.Get(t.Context(), ""); !errors.Is(err, presence.ErrInvalid) {
		t.Errorf("Get(\"\") = %v, want ErrInvalid", err)
	}
	if _, err := r.Get(t.Context(), presence.NewID()); !errors.Is(err, presence.ErrNotFound) {
		t.Errorf("Get(unknown) = %v, want ErrNotFound", err)
	}
	checkCount(t, r, 1) // only dup: nothing refused was stored
	if got, _ := r.Get(t.Context(), dup.ID); Equal(got, dup) != "" {
		t.Errorf("a refused duplicate changed the record: %s", Equal(got, dup))
	}
}

// many is more records than any registry's page.
const many = 2500

func testListPages(t *testing.T, r presence.Registry) {
	ids := make(map[string]bool, many)
	for range many {
		ids[MustJoin(t, r, Sub()).ID] = true
	}
	seen, _ := Collect(t, r)
	if len(seen) != many {
		t.Errorf("List yielded %d distinct subscriptions, want %d", len(seen), many)
	}
	for id := range ids {
		if seen[id] == 0 {
			t.Errorf("List did not yield %q", id)
			break
		}
	}
}

func testListChurn(t *testing.T, r presence.Registry) {
	var stable, leaving []string
	for i := range many {
		id := MustJoin(t, r, Sub()).ID
		if i%2 == 0 {
			stable = append(stable, id)
		} else {
			leaving = append(leaving, id)
		}
	}
	left := make(map[string]bool)
	n := 0
	for s, err := range r.List(t.Context()) {
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		if left[s.ID] {
			// Leaves of records not yet listed may show or not; one already
			// gone before the listing started never does (checked below).
			continue
		}
		// Churn while listing: one leaves, one joins.
		if n < len(leaving) {
			if err := r.Leave(leaving[n]); err != nil {
				t.Fatal(err)
			}
			left[leaving[n]] = true
			MustJoin(t, r, Sub())
		}
		n++
	}
	seen, _ := Collect(t, r)
	for _, id := range stable {
		if seen[id] == 0 {
			t.Fatalf("a subscription present throughout, %q, was not listed", id)
		}
	}
	for id := range left {
		if seen[id] != 0 {
			t.Fatalf("listing after %q left still yields it", id)
		}
	}
}

func testListBreak(t *testing.T, r presence.Registry) {
	for range 10 {
		MustJoin(t, r, Sub())
	}
	n := 0
	for _, err := range r.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 3 {
			break
		}
	}
	checkCount(t, r, 10)
	MustJoin(t, r, Sub()) // still usable
}

func testCancelled(t *testing.T, r presence.Registry) {
	s := MustJoin(t, r, Sub())
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	var got error
	for _, err := range r.List(ctx) {
		if err != nil {
			got = err
			break
		}
	}
	if !errors.Is(got, context.Canceled) {
		t.Errorf("List(cancelled) error = %v, want context.Canceled", got)
	}
	// Get may answer from memory for this node's own records; a remote
	// lookup must honour ctx.
	if _, err := r.Get(ctx, presence.NewID()); err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, presence.ErrNotFound) {
		t.Errorf("Get(cancelled) = %v, want context.Canceled or ErrNotFound", err)
	}
	if got, err := r.Get(t.Context(), s.ID); err != nil || got.ID != s.ID {
		t.Errorf("Get after a cancelled call = %+v, %v", got, err)
	}
}

func testConcurrent(t *testing.T, r presence.Registry) {
	const workers, each = 8, 200
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Go(func() {
			for i := range each {
				s, err := r.Join(Sub())
				if err != nil {
					errs <- err
					return
				}
				if i%2 == 1 {
					if err := r.Leave(s.ID); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Go(func() { // a reader alongside
		for _, err := range r.List(t.Context()) {
			if err != nil {
				errs <- err
				return
			}
		}
	})
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	checkCount(t, r, workers*each/2)
}

func testWatchStop(t *testing.T, r presence.Registry) {
	stop := r.Watch(func(presence.Change) {})
	stop()
	stop()
}

func testClosed(t *testing.T, r presence.Registry) {
	s := MustJoin(t, r, Sub())
	if err := r.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, presence.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
	_, err := r.Join(Sub())
	check("Join", err)
	check("Leave", r.Leave(s.ID))
	_, err = r.Get(t.Context(), s.ID)
	check("Get", err)
	_, err = r.Count(t.Context())
	check("Count", err)
	err = nil
	for _, e := range r.List(t.Context()) {
		err = e
	}
	check("List", err)
	r.Watch(func(presence.Change) { t.Error("a closed registry reported a change") })()
}

// HeapPerItem returns the live heap that build adds, divided by n, for a
// benchmark's report: it collects garbage, builds, collects again and
// measures, then calls the release function build returned.
func HeapPerItem(n int, build func() (release func())) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	release := build()
	runtime.GC()
	runtime.ReadMemStats(&after)
	release()
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}
