package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

// BenchmarkIdleHTTP2Stream opens 200 event streams over one TLS HTTP/2
// connection, as a browser's tabs sharing a connection do, waits until the
// hub holds them all and each has its response head, and reports the Go
// heap and stacks in use per idle stream (B/stream, stacks included),
// the stacks alone, and goroutines per stream. Both ends live in this
// process, so the client's share is in every figure (its goroutine per
// stream among them): compare runs, not absolutes. bench's h2 and h2mux
// scenarios measure the server alone against its peers.
func BenchmarkIdleHTTP2Stream(b *testing.B) {
	const streams = 200 // within net/http's 250 concurrent streams per connection
	l := memory.New(memory.Options{})
	defer l.Close()
	h, err := hub.New(hub.Options{Log: l})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Options{Hub: h, MaxSubscribers: 1 << 20, MaxSubscribersPerClient: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(srv)
	ts.EnableHTTP2 = true
	ts.StartTLS()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
		_ = srv.Close(ctx)
		ts.Close()
	}()
	client := ts.Client()
	var perStream, stack, goroutines float64
	for b.Loop() {
		before, stack0 := heapStack()
		g0 := runtime.NumGoroutine()
		ctx, cancel := context.WithCancel(context.Background())
		bodies := make([]io.Closer, 0, streams)
		for range streams {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/events?topic=idle", nil)
			resp, err := client.Do(req) // the head comes at once: herald flushes it
			if err != nil {
				b.Fatal(err)
			}
			if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
				b.Fatalf("got %s %s, want HTTP/2 200", resp.Proto, resp.Status)
			}
			bodies = append(bodies, resp.Body)
		}
		for h.Stats().Subscribers < streams {
			runtime.Gosched()
		}
		after, stack1 := heapStack()
		perStream = float64(after-before) / streams
		stack = float64(stack1-stack0) / streams
		goroutines = float64(runtime.NumGoroutine()-g0) / streams
		cancel()
		for _, body := range bodies {
			body.Close()
		}
		for h.Stats().Subscribers > 0 {
			runtime.Gosched()
		}
	}
	b.ReportMetric(perStream, "B/stream")
	b.ReportMetric(stack, "stack-B/stream")
	b.ReportMetric(goroutines, "goroutines/stream")
}

// heapStack is the Go heap and stacks in use, and the stacks alone, after
// two collections (the second lets stacks shrink to what they hold).
func heapStack() (all, stacks int64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse), int64(ms.StackInuse)
}
