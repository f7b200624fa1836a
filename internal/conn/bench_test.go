package conn_test

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
	"github.com/heraldsse/herald/internal/conn"
)

// BenchmarkServe publishes one event per iteration to n subscribers
// served by the engine's writers over loopback TCP, each client counting the
// events it reads, and reports deliveries per second as the clients saw
// them, and allocations per delivery on both sides.
func BenchmarkServe(b *testing.B) {
	for _, n := range []int{100, 2_000} {
		b.Run("subscribers="+strconv.Itoa(n), func(b *testing.B) {
			h := newHub(b, hub.Options{QueueSize: 1 << 20})
			e := newEngine(b, conn.Options{Heartbeat: -1})
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
				e.Serve(srv, nil, sub, nil)
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
