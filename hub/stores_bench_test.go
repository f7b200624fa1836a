package hub_test

import (
	"context"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/store/redis"
)

// benchStores opens each store implementation for a benchmark.
func benchStores(b *testing.B) []struct {
	name string
	open func(b *testing.B) store.Log
} {
	return []struct {
		name string
		open func(b *testing.B) store.Log
	}{
		{"memory", func(b *testing.B) store.Log {
			return memory.New(memory.Options{Retention: store.Retention{MaxEntries: 1 << 16}})
		}},
		{"bolt", func(b *testing.B) store.Log {
			l, err := bolt.Open(filepath.Join(b.TempDir(), "bench.db"), bolt.Options{Retention: store.Retention{MaxEntries: 1 << 16}})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
		{"redis", func(b *testing.B) store.Log {
			addr := testenv.StartRedis(b)
			l, err := redis.New(context.Background(), redis.Options{Addr: addr, Stream: "bench:" + strconv.FormatInt(time.Now().UnixNano(), 36), StreamLen: 1 << 16, Retention: store.Retention{MaxEntries: 1 << 16}})
			if err != nil {
				b.Fatal(err)
			}
			return l
		}},
	}
}

func benchHub(b *testing.B, l store.Log) *hub.Hub {
	h, err := hub.New(hub.Options{Log: l, QueueSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		h.Close(context.Background())
		if c, ok := l.(interface{ Close() error }); ok {
			c.Close()
		}
	})
	return h
}

// BenchmarkStorePublish measures publish throughput with 16 concurrent
// publishers on each store.
func BenchmarkStorePublish(b *testing.B) {
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			h := benchHub(b, s.open(b))
			msg := hub.Message{Topic: "bench", Data: `{"count": 1}`}
			b.SetParallelism(8) // 16 publishers on 2 cores
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := h.Publish(context.Background(), msg); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "publishes/s")
		})
	}
}

// BenchmarkStoreLatency measures publish-to-receive latency for one
// subscriber, one event at a time, on each store, and reports its p50
// and p99.
func BenchmarkStoreLatency(b *testing.B) {
	for _, s := range benchStores(b) {
		b.Run(s.name, func(b *testing.B) {
			h := benchHub(b, s.open(b))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"bench"}})
			if err != nil {
				b.Fatal(err)
			}
			next, stop := pull(sub.Events(ctx))
			defer stop()
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				if _, err := h.Publish(ctx, hub.Message{Topic: "bench", Data: "x"}); err != nil {
					b.Fatal(err)
				}
				if _, err, _ := next(); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
