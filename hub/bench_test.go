package hub_test

import (
	"bytes"
	"context"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store/memory"
)

// BenchmarkPublishDeliver publishes one event per iteration to a topic with
// n in-process subscribers, each draining its queue into a byte buffer as
// an HTTP stream's writer does, and reports deliveries per second and
// allocations per delivery.
func BenchmarkPublishDeliver(b *testing.B) {
	for _, n := range []int{1, 100, 10_000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			h, err := hub.New(hub.Options{QueueSize: 1 << 20, Log: memory.New(memory.Options{})})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			for range n {
				sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"bench/topic"}})
				if err != nil {
					b.Fatal(err)
				}
				ready := readyChan(sub)
				wg.Go(func() {
					buf := make([]byte, 0, 64<<10)
					for range ready {
						var ended bool
						if buf, ended = sub.AppendPending(buf[:0]); ended {
							return
						}
					}
				})
			}
			msg := hub.Message{Topic: "bench/topic", Data: `{"count": 1, "time": 1732623145.123}`}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			b.ReportAllocs()
			// Publish with at most a window of events in flight, so the
			// follower stays well within the log's ring: this measures
			// sustained delivery, not how fast the ring can be lapped.
			const window = 1024
			published := 0
			waitDelivered := func(events int) {
				for h.Stats().Delivered < uint64(events)*uint64(n) {
					if h.Stats().SlowDisconnects > 0 || h.Stats().Subscribers < n {
						b.Fatalf("a subscriber was disconnected: %+v", h.Stats())
					}
					runtime.Gosched()
				}
			}
			for b.Loop() {
				if _, err := h.Publish(ctx, msg); err != nil {
					b.Fatal(err)
				}
				if published++; published%window == 0 {
					waitDelivered(published - window)
				}
			}
			want := uint64(b.N) * uint64(n)
			waitDelivered(b.N)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			b.StopTimer()
			cancel()
			wg.Wait()
			b.ReportMetric(float64(want)/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(want), "allocs/delivery")
		})
	}
}

// BenchmarkReplay replays a 2,000-event history of 200-byte events to
// one subscriber per iteration (FromStart), drained with AppendPending as
// a connection engine does, and reports allocated bytes per replayed event:
// what a reconnect storm costs the server beyond the writes.
func BenchmarkReplay(b *testing.B) {
	const events = 2000
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		b.Fatal(err)
	}
	defer h.Close(context.Background())
	ctx := context.Background()
	data := strings.Repeat("x", 200)
	for range events {
		if _, err := h.Publish(ctx, hub.Message{Topic: "bench/replay", Data: data}); err != nil {
			b.Fatal(err)
		}
	}
	buf := make([]byte, 0, 64<<10)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b.ResetTimer()
	for b.Loop() {
		sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"bench/replay"}, FromStart: true})
		if err != nil {
			b.Fatal(err)
		}
		ready := readyChan(sub)
		got := 0
		for got < events {
			buf, _ = sub.AppendPending(buf[:0])
			got += bytes.Count(buf, []byte("\ndata: "))
			if got < events {
				<-ready
			}
		}
		sub.Close()
	}
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(after.TotalAlloc-before.TotalAlloc)/float64(b.N)/events, "B/event")
}

// readyChan returns a channel that receives when sub has something
// pending (at most one wake-up is kept).
func readyChan(sub *hub.Subscription) chan struct{} {
	ready := make(chan struct{}, 1)
	sub.Notify(func() {
		select {
		case ready <- struct{}{}:
		default:
		}
	})
	return ready
}
