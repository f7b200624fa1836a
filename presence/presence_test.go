package presence_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/presence/presencetest"
)

func newMemory(t *testing.T) *presence.Memory {
	t.Helper()
	m, err := presence.NewMemory(presence.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close(t.Context()) })
	return m
}

func TestMemoryConformance(t *testing.T) {
	presencetest.Run(t, func(t *testing.T) presence.Registry { return newMemory(t) })
}

var uuidIRI = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

func TestNewIDIsARandomUUIDIRI(t *testing.T) {
	seen := make(map[string]bool)
	for range 10_000 {
		id := presence.NewID()
		if !uuidIRI.MatchString(id) {
			t.Fatalf("NewID() = %q, want urn:uuid: and a version 4 UUID", id)
		}
		if seen[id] {
			t.Fatalf("NewID() returned %q twice", id)
		}
		seen[id] = true
		if err := (presence.Subscription{ID: id, Topics: []presence.Matcher{{presence.KindHerald, "a"}}}).Validate(); err != nil {
			t.Fatalf("a NewID is refused: %v", err)
		}
	}
}

func TestNodeIDs(t *testing.T) {
	a, b := presence.NewNodeID(), presence.NewNodeID()
	if a == b {
		t.Errorf("NewNodeID twice = %q: want a new ID per call", a)
	}
	for _, id := range []string{a, b} {
		if err := presence.CheckNode(id); err != nil {
			t.Errorf("NewNodeID() = %q, refused by CheckNode: %v", id, err)
		}
	}
	tests := []struct {
		node string
		ok   bool
	}{
		{"web-1", true},
		{"host.example_2-ab12cd34", true},
		{strings.Repeat("n", presence.MaxNodeLen), true},
		{"", false},
		{strings.Repeat("n", presence.MaxNodeLen+1), false},
		{"a:b", false},   // a key separator
		{"{tag}", false}, // a Redis hash tag
		{"a b", false},
		{"nœud", false},
	}
	for _, tc := range tests {
		err := presence.CheckNode(tc.node)
		if (err == nil) != tc.ok || err != nil && !errors.Is(err, presence.ErrInvalid) {
			t.Errorf("CheckNode(%q) = %v, want ok=%v (else ErrInvalid)", tc.node, err, tc.ok)
		}
		if _, err := presence.NewMemory(presence.MemoryOptions{Node: tc.node}); tc.node != "" && (err == nil) != tc.ok {
			t.Errorf("NewMemory(Node %q) = %v, want ok=%v", tc.node, err, tc.ok)
		}
	}
}

// TestMemoryStartIsNow checks, on synctest's clock, that a record without a
// Start gets the time it joined.
func TestMemoryStartIsNow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := newMemory(t)
		time.Sleep(90 * time.Minute)
		want := time.Now()
		s := presencetest.MustJoin(t, m, presencetest.Sub())
		if !s.Start.Equal(want) {
			t.Errorf("Start = %v, want the time of Join, %v", s.Start, want)
		}
	})
}

// TestMemoryListOnceInJoinOrder checks what Memory promises beyond the
// suite: each record once, in the order of joining, through leaves that
// compact its index and joins that happen while listing.
func TestMemoryListOnceInJoinOrder(t *testing.T) {
	m := newMemory(t)
	var ids []string
	for i := range 5000 {
		s := presencetest.MustJoin(t, m, presencetest.Sub())
		if i%5 != 0 {
			if err := m.Leave(s.ID); err != nil {
				t.Fatal(err)
			}
			continue
		}
		ids = append(ids, s.ID)
	}
	var got []string
	joined := map[string]bool{}
	for s, err := range m.List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, s.ID)
		if len(got) <= 300 { // joins during the listing come after, once
			joined[presencetest.MustJoin(t, m, presencetest.Sub()).ID] = true
		}
	}
	if len(got) != len(ids)+len(joined) {
		t.Fatalf("List yielded %d records, want %d kept and %d joined meanwhile", len(got), len(ids), len(joined))
	}
	for i, id := range ids {
		if got[i] != id {
			t.Fatalf("List record %d = %q, want %q (join order)", i, got[i], id)
		}
	}
	for _, id := range got[len(ids):] {
		if !joined[id] {
			t.Fatalf("List yielded %q after the kept records: not one joined while listing", id)
		}
		delete(joined, id)
	}
}
