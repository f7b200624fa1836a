package hub_test

import (
	"context"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
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
			h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), QueueSize: 1 << 20, Heartbeat: -1})
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
				wg.Go(func() {
					buf := make([]byte, 0, 64<<10)
					for {
						select {
						case <-sub.Ready():
							buf = sub.AppendPending(buf[:0])
						case <-sub.Done():
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

// BenchmarkServeConn publishes one event per iteration to n subscribers
// served by the hub's writers over loopback TCP, each client counting the
// events it reads, and reports deliveries per second as the clients saw
// them, and allocations per delivery on both sides.
func BenchmarkServeConn(b *testing.B) {
	for _, n := range []int{100, 2_000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), QueueSize: 1 << 20, Heartbeat: -1})
			if err != nil {
				b.Fatal(err)
			}
			defer h.Close(context.Background())
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var received atomic.Uint64
			changed := make(chan struct{}, 1)
			var wg sync.WaitGroup
			var clients []net.Conn
			defer func() {
				for _, c := range clients {
					c.Close()
				}
				wg.Wait()
			}()
			for range n {
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					b.Fatal(err)
				}
				clients = append(clients, c)
				srv, err := ln.Accept()
				if err != nil {
					b.Fatal(err)
				}
				sub, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"bench/topic"}})
				if err != nil {
					b.Fatal(err)
				}
				sub.ServeConn(srv, hub.ConnOptions{})
				wg.Go(func() { countEvents(c, &received, changed) })
			}
			msg := hub.Message{Topic: "bench/topic", Data: `{"count": 1, "time": 1732623145.123}`}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			start := time.Now()
			const window = 256
			published := 0
			waitReceived := func(events int) {
				timeout := time.NewTimer(time.Minute)
				defer timeout.Stop()
				for received.Load() < uint64(events)*uint64(n) {
					select {
					case <-changed:
					case <-timeout.C:
						b.Fatalf("received %d of %d: %+v", received.Load(), events*n, h.Stats())
					}
				}
			}
			for b.Loop() {
				if _, err := h.Publish(context.Background(), msg); err != nil {
					b.Fatal(err)
				}
				if published++; published%window == 0 {
					waitReceived(published - window)
				}
			}
			waitReceived(b.N)
			elapsed := time.Since(start)
			runtime.ReadMemStats(&after)
			b.StopTimer()
			want := float64(b.N) * float64(n)
			b.ReportMetric(want/elapsed.Seconds(), "deliveries/s")
			b.ReportMetric(float64(after.Mallocs-before.Mallocs)/want, "allocs/delivery")
		})
	}
}

// countEvents reads an event stream until it ends, counting the blank
// lines that end events (the retry hint's included, once). After each read
// that counted something it signals changed, if given, without blocking.
func countEvents(c net.Conn, n *atomic.Uint64, changed chan<- struct{}) {
	buf := make([]byte, 32<<10)
	var prev byte
	for {
		m, err := c.Read(buf)
		var k uint64
		for _, b := range buf[:m] {
			if b == '\n' && prev == '\n' {
				k++
			}
			prev = b
		}
		n.Add(k)
		if k > 0 && changed != nil {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}
