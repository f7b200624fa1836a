package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// impl is one server under test as the server role drives it. Each
// implementation lives in its own file (impl_*.go).
type impl interface {
	// handler serves subscriptions at /events.
	handler() http.Handler
	// subscribePrefix is the request target of a subscription, to which
	// the topic is appended.
	subscribePrefix() string
	// publish sends one event through the library's normal publish call.
	publish(ctx context.Context, topic, data string) error
	// subscribers is how many subscribers the server holds now.
	subscribers() int
	// close releases what the implementation owns.
	close()
}

// serveOpts are the server role's hidden flags beyond the implementation.
type serveOpts struct {
	// History, when positive, turns on each implementation's replay with
	// room for this many events (storm.go).
	History int
	// TLS also serves the subscribe endpoint over TLS on a second port,
	// with HTTP/2 and HTTP/1.1 offered through ALPN (h2.go).
	TLS bool
}

func newImpl(name string, so serveOpts) (impl, error) {
	switch name {
	case "herald":
		return newHerald(so.History)
	case "gosse":
		return newGosse(so.History)
	case "r3labs":
		return newR3labs(so.History), nil
	}
	return newPresenceImpl(name) // or unknown
}

// serverHello is the one line a server process prints on stdout once it
// listens.
type serverHello struct {
	Addr   string `json:"addr"`
	Prefix string `json:"prefix"`
	// TLSAddr is where the subscribe endpoint is served over TLS, with
	// -tls (h2.go).
	TLSAddr string `json:"tls_addr,omitempty"`
}

// serverStats is the body of GET /bench/stats.
type serverStats struct {
	Subscribers int    `json:"subscribers"`
	Goroutines  int    `json:"goroutines"`
	HeapInuse   uint64 `json:"heap_inuse"`
	StackInuse  uint64 `json:"stack_inuse"`
	Sys         uint64 `json:"sys"`
	// Mallocs is how many heap objects the process has allocated.
	Mallocs uint64 `json:"mallocs"`
	// CPUNS is the user plus system CPU time the process has used, from
	// getrusage(RUSAGE_SELF): microsecond resolution, where
	// /proc/<pid>/stat counts 10 ms ticks.
	CPUNS int64 `json:"cpu_ns"`
}

// publishResult is the body of POST /bench/publish.
type publishResult struct {
	Published int    `json:"published"`
	Errors    int    `json:"errors"`
	FirstErr  string `json:"first_error,omitempty"`
	ElapsedNS int64  `json:"elapsed_ns"`
}

// serveRole runs one server under test until ctx ends or stdin closes
// (the harness exited or closed it).
func serveRole(ctx context.Context, name, addr, cpuProfile string, so serveOpts, stdin io.Reader, stdout io.Writer) error {
	im, err := newImpl(name, so)
	if err != nil {
		return err
	}
	defer im.close()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
		defer writeAllocsProfile(strings.TrimSuffix(cpuProfile, ".pprof") + ".allocs.pprof")
	}
	mux := http.NewServeMux()
	mux.Handle("/events", im.handler())
	mux.HandleFunc("POST /bench/publish", func(w http.ResponseWriter, r *http.Request) { benchPublish(w, r, im) })
	mux.HandleFunc("GET /bench/stats", func(w http.ResponseWriter, r *http.Request) {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		writeJSON(w, serverStats{
			Subscribers: im.subscribers(),
			Goroutines:  runtime.NumGoroutine(),
			HeapInuse:   ms.HeapInuse,
			StackInuse:  ms.StackInuse,
			Sys:         ms.Sys,
			Mallocs:     ms.Mallocs,
			CPUNS:       cpuTime().Nanoseconds(),
		})
	})
	mux.HandleFunc("POST /bench/gc", func(w http.ResponseWriter, r *http.Request) {
		runtime.GC()
		writeJSON(w, struct{}{})
	})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	h := serverHello{Addr: ln.Addr().String(), Prefix: im.subscribePrefix()}
	if so.TLS {
		if h.TLSAddr, err = serveTLS(srv, addr); err != nil {
			srv.Close()
			<-served
			return err
		}
	}

	hello, _ := json.Marshal(h)
	if _, err := fmt.Fprintf(stdout, "%s\n", hello); err != nil {
		srv.Close()
		<-served
		return err
	}

	// This reader ends with the process: stdin closes when the harness
	// stops us or exits.
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, stdin); close(stdinClosed) }()
	select {
	case <-ctx.Done():
	case <-stdinClosed:
	case err = <-served:
		return err
	}
	srv.Close() // streams never go idle, so Shutdown would wait for nothing
	<-served
	return nil
}

// benchPublish handles POST /bench/publish?topic=T&n=N&size=S&rate=R[&kind=warm].
// Each event's data is its send time in decimal Unix nanoseconds, a space,
// and padding up to S bytes. With a rate, the send time is the scheduled
// one, so a publish call that blocks shows up as latency instead of
// hiding it. Warm-up events carry "warm" instead of a time.
func benchPublish(w http.ResponseWriter, r *http.Request, im impl) {
	q := r.URL.Query()
	topic := q.Get("topic")
	n, err1 := strconv.Atoi(q.Get("n"))
	size, err2 := strconv.Atoi(q.Get("size"))
	rate, err3 := strconv.Atoi(q.Get("rate"))
	if topic == "" || errors.Join(err1, err2, err3) != nil || n < 0 || size < 0 || rate < 0 {
		http.Error(w, "want topic, n, size, rate", http.StatusBadRequest)
		return
	}
	warm := q.Get("kind") == "warm"
	seq := q.Get("kind") == "seq" // data: the event's number from 1, for order checks (storm.go)
	ctx := r.Context()
	var res publishResult
	buf := make([]byte, 0, max(size, 32))
	start := time.Now()
	for i := 0; i < n && ctx.Err() == nil; i++ {
		at := time.Now()
		if rate > 0 {
			at = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
			if d := time.Until(at); d > 0 {
				time.Sleep(d) // pacing, not waiting for a condition
			}
		}
		switch {
		case warm:
			buf = append(buf[:0], "warm "...)
		case seq:
			buf = strconv.AppendInt(buf[:0], int64(i+1), 10)
			buf = append(buf, ' ')
		default:
			buf = strconv.AppendInt(buf[:0], at.UnixNano(), 10)
			buf = append(buf, ' ')
		}
		for len(buf) < size {
			buf = append(buf, 'x')
		}
		if err := im.publish(ctx, topic, string(buf)); err != nil {
			res.Errors++
			if res.FirstErr == "" {
				res.FirstErr = err.Error()
			}
			continue
		}
		res.Published++
	}
	res.ElapsedNS = int64(time.Since(start))
	writeJSON(w, res)
}

// cpuTime returns the CPU time this process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// writeAllocsProfile writes the allocations made since the start, beside
// the CPU profile.
func writeAllocsProfile(path string) {
	f, err := os.Create(path)
	if err != nil {
		return
	}
	defer f.Close()
	_ = pprof.Lookup("allocs").WriteTo(f, 0)
}
