package redis_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/presence/presencetest"
	"github.com/heraldsse/herald/presence/redis"
)

// benchSubs is how many subscriptions the benchmarks register.
const benchSubs = 10_000

func benchRecords() []presence.Subscription {
	subs := make([]presence.Subscription, benchSubs)
	for i := range subs {
		subs[i] = presencetest.Sub("chat/lobby")
	}
	return subs
}

// BenchmarkRedisMemoryPerSubscription reports, for 10,000 subscriptions
// like presencetest.Sub's on one node, the Go heap the registry holds per
// subscription ("B/sub": its in-memory copy) and Redis's used_memory per
// subscription ("redis-B/sub": MEMORY USAGE of the node's hash, exact).
func BenchmarkRedisMemoryPerSubscription(b *testing.B) {
	srv := testenv.StartRedisServer(b)
	rc := client(b, srv.Addr())
	subs := benchRecords()
	var heap, inRedis float64
	for b.Loop() {
		p := prefix(b)
		heap = presencetest.HeapPerItem(benchSubs, func() func() {
			r, err := redis.New(b.Context(), redis.Options{Addr: srv.Addr(), Prefix: p, Node: "n"})
			if err != nil {
				b.Fatal(err)
			}
			for _, s := range subs {
				if _, err := r.Join(s); err != nil {
					b.Fatal(err)
				}
			}
			mustSync(b, r)
			size, err := rc.MemoryUsage(b.Context(), "{"+p+"}:subs:n", 0).Result()
			if err != nil {
				b.Fatal(err)
			}
			inRedis = float64(size) / benchSubs
			return func() { r.Close(context.Background()) }
		})
	}
	b.ReportMetric(heap, "B/sub")
	b.ReportMetric(inRedis, "redis-B/sub")
}

// BenchmarkRedisIdle10k registers 10,000 subscriptions on one node with the
// default intervals and counts what reaches Redis while nothing changes:
// commands as INFO commandstats counts them (a script's inner commands
// included) and round trips as the client sends them, per second. Each
// iteration is one heartbeat interval (5 s); run it with -benchtime=4x or
// more.
func BenchmarkRedisIdle10k(b *testing.B) {
	srv := testenv.StartRedisServer(b)
	rc := client(b, srv.Addr())
	var hook roundTrips
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	c.AddHook(&hook)
	b.Cleanup(func() { c.Close() })
	r := open(b, "", redis.Options{Client: c, Prefix: prefix(b)})
	for _, s := range benchRecords() {
		if _, err := r.Join(s); err != nil {
			b.Fatal(err)
		}
	}
	mustSync(b, r)
	if err := rc.ConfigResetStat(b.Context()).Err(); err != nil {
		b.Fatal(err)
	}
	before := hook.n.Load()
	start := time.Now()
	for b.Loop() {
		time.Sleep(redis.DefaultTTL / 3)
	}
	secs := time.Since(start).Seconds()
	var cmds int64
	for name, n := range commandStats(b, rc) {
		if !strings.HasPrefix(name, "config") && name != "info" {
			cmds += n
		}
	}
	b.ReportMetric(float64(cmds)/secs, "cmds/s")
	b.ReportMetric(float64(hook.n.Load()-before)/secs, "roundtrips/s")
	b.ReportMetric(float64(cmds)/secs/benchSubs, "cmds/s/sub")
}

// BenchmarkReap10k measures how long a node takes to reap a dead node's
// 10,000 subscriptions, from the check that finds it dead to the last
// record reported ("ms/reap"): the part of the bound that grows with the
// records. The dead node's hash is written directly, as a node that was
// killed leaves it.
func BenchmarkReap10k(b *testing.B) {
	srv := testenv.StartRedisServer(b)
	rc := client(b, srv.Addr())
	subs := benchRecords()
	var total time.Duration
	for b.Loop() {
		p := prefix(b)
		fields := make([]any, 0, 2*benchSubs)
		for _, s := range subs {
			s.Node, s.Start = "dead", time.Now()
			fields = append(fields, s.ID, redis.Encode(s))
		}
		if err := rc.HSet(b.Context(), "{"+p+"}:subs:dead", fields...).Err(); err != nil {
			b.Fatal(err)
		}
		r := open(b, srv.Addr(), redis.Options{Prefix: p, CheckInterval: 10 * time.Millisecond})
		var n atomic.Int64
		done := make(chan time.Time, 1)
		r.Watch(func(presence.Change) {
			if n.Add(1) == benchSubs {
				done <- time.Now()
			}
		})
		start := time.Now()
		if err := rc.SAdd(b.Context(), "{"+p+"}:nodes", "dead").Err(); err != nil {
			b.Fatal(err)
		}
		select {
		case end := <-done:
			total += end.Sub(start)
		case <-time.After(wait):
			b.Fatalf("reaped %d of %d in %v", n.Load(), benchSubs, wait)
		}
		r.Close(b.Context())
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms/reap")
}
