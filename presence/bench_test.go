package presence_test

import (
	"testing"

	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/presence/presencetest"
)

// BenchmarkMemoryJoinLeave is the cost a hub pays per subscription: one
// Join when it starts and one Leave when it ends.
func BenchmarkMemoryJoinLeave(b *testing.B) {
	m, err := presence.NewMemory(presence.MemoryOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer m.Close(b.Context())
	s := presencetest.Sub("chat/lobby")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Join(s); err != nil {
			b.Fatal(err)
		}
		if err := m.Leave(s.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMemoryHeapPerSubscription reports the heap a Memory registry
// holds per registered subscription ("B/sub"), for 10,000 records like
// presencetest.Sub's: three matchers and a small payload. The records'
// IDs are allocated before, as a hub would, and not counted.
func BenchmarkMemoryHeapPerSubscription(b *testing.B) {
	const n = 10_000
	subs := make([]presence.Subscription, n)
	for i := range subs {
		subs[i] = presencetest.Sub("chat/lobby")
	}
	var perSub float64
	for b.Loop() {
		perSub = presencetest.HeapPerItem(n, func() func() {
			m, err := presence.NewMemory(presence.MemoryOptions{})
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range subs {
				if _, err := m.Join(s); err != nil {
					b.Fatal(err)
				}
			}
			return func() { m.Close(b.Context()) }
		})
	}
	b.ReportMetric(perSub, "B/sub")
}
