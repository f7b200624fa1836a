package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"
)

// scenario is one measurement, run the same way for each implementation.
type scenario struct {
	// runs is how many times each implementation runs it by default (the
	// table shows the median): more for scenarios that this shared machine
	// makes noisy.
	runs  int
	subs  func(config) int
	title func(c config, subs int) string
	rows  []row
	run   func(ctx context.Context, r *run, ir *implResult) error
	// setup, when set, gives the server's extra flags and how clients
	// connect (storm.go, h2.go).
	setup func(c config) runSetup
}

// runSetup is what a scenario needs beyond the defaults: extra flags for
// the server process, and the protocol its clients speak.
type runSetup struct {
	ServerArgs []string
	Proto      string // "" (HTTP/1.1), "h1tls" or "h2": see h2.go
	PerConn    int    // h2: streams per connection
}

// extraScenarios are run only when named: -scenario all is the four above.
var extraScenarios []string

// row is one line of a scenario's table: a metric key and which way is
// better (+1 higher, -1 lower, 0 neither: no ratio is printed).
type row struct {
	Key    string `json:"key"`
	Label  string `json:"label"`
	Better int    `json:"better"`
}

var scenarios = map[string]scenario{
	"idle": {
		subs: func(c config) int { return c.IdleSubs },
		title: func(c config, n int) string {
			return fmt.Sprintf("%d idle subscribers (after runtime.GC() and %v; CPU over %v)", n, c.Settle, c.IdleWindow)
		},
		rows: []row{
			{"rss_kib_per_sub", "RSS per subscriber, KiB", -1},
			{"heapstack_kib_per_sub", "Go heap+stack in use per subscriber, KiB", -1},
			{"goroutines_per_sub", "goroutines per subscriber", -1},
			{"cpu_us_per_s_per_1k", "idle CPU, µs per second per 1,000 subscribers", -1},
			{"rss_mib", "server RSS, MiB", -1},
		},
		run: runIdle,
	},
	"fanout": {
		subs: func(c config) int { return c.FanoutSubs },
		title: func(c config, n int) string {
			return fmt.Sprintf("%d subscribers on one topic, %d bursts of %d events of %d bytes", n, c.FanoutBursts, c.FanoutEvents, c.Size)
		},
		rows: []row{
			{"deliveries_per_s", "deliveries per second (all bursts)", +1},
			{"burst_ms_median", "burst time, median, ms (publish request to last delivery)", -1},
			{"cpu_us_per_delivery", "server CPU per delivery, µs", -1},
			{"allocs_per_delivery", "server heap allocations per delivery, after the first burst (publishing included)", -1},
			{"missing", "missing deliveries", -1},
			{"load_cpu_us_per_delivery", "load generator CPU per delivery, µs (context: same 2 cores)", 0},
		},
		run: runFanout,
	},
	"latency": {
		subs: func(c config) int { return c.LatencySubs },
		title: func(c config, n int) string {
			return fmt.Sprintf("%d subscribers, %d events/s of %d bytes for %v", n, c.LatencyRate, c.Size, c.LatencyDuration)
		},
		rows: []row{
			{"p50_ms", "publish→receive p50, ms", -1},
			{"p99_ms", "publish→receive p99, ms", -1},
			{"p999_ms", "publish→receive p99.9, ms", -1},
			{"max_ms", "publish→receive max (bin), ms", -1},
			{"missing", "missing deliveries", -1},
			{"publish_s", "time to publish all events, s", -1},
			{"server_cpu_s", "server CPU, s (publish to last delivery)", -1},
			{"load_cpu_s", "load generator CPU, s (context: same 2 cores)", 0},
		},
		run: runLatency,
	},
	"churn": {
		runs: 3,
		subs: func(c config) int { return c.ChurnSubs },
		title: func(c config, n int) string {
			return fmt.Sprintf("%d steady subscribers at %d events/s; %d workers connect, read the head, disconnect for %v", n, c.ChurnRate, c.ChurnWorkers, c.ChurnDuration)
		},
		rows: []row{
			{"cycles_per_s", "connect/disconnect cycles per second", +1},
			{"cycle_errors", "failed cycles", -1},
			{"steady_p99_ms", "steady subscribers' p99 latency, ms", -1},
			{"missing", "steady subscribers' missing deliveries", -1},
			{"leaked", "subscribers left over after churn (server count − steady)", -1},
		},
		run: runChurn,
	},
}

// sleep waits d unless ctx ends first; it is for measurement windows, not
// for waiting on a condition.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func kib(b int64) float64 { return float64(b) / 1024 }

func runIdle(ctx context.Context, r *run, ir *implResult) error {
	n := r.subs
	pid := r.srv.pid()
	if err := r.srv.gc(ctx); err != nil {
		return err
	}
	baseRSS, err := procRSS(pid)
	if err != nil {
		return err
	}
	base, err := r.srv.stats(ctx)
	if err != nil {
		return err
	}
	if err := r.ready(ctx, n); err != nil {
		return err
	}
	if err := r.srv.gc(ctx); err != nil {
		return err
	}
	if err := sleep(ctx, r.c.Settle); err != nil {
		return err
	}
	rss, err := procRSS(pid)
	if err != nil {
		return err
	}
	st, err := r.srv.stats(ctx)
	if err != nil {
		return err
	}
	cpu0, tick0, err := r.srv.cpu(ctx)
	if err != nil {
		return err
	}
	if err := sleep(ctx, r.c.IdleWindow); err != nil {
		return err
	}
	cpu1, tick1, err := r.srv.cpu(ctx)
	if err != nil {
		return err
	}
	after, err := r.srv.stats(ctx)
	if err != nil {
		return err
	}
	m := ir.Metrics
	m["rss_kib_per_sub"] = float64(rss-baseRSS) / float64(n)
	m["heapstack_kib_per_sub"] = kib(int64(st.HeapInuse+st.StackInuse)-int64(base.HeapInuse+base.StackInuse)) / float64(n)
	m["goroutines_per_sub"] = float64(st.Goroutines-base.Goroutines) / float64(n)
	m["cpu_us_per_s_per_1k"] = float64((cpu1 - cpu0).Microseconds()) / r.c.IdleWindow.Seconds() / (float64(n) / 1000)
	m["rss_mib"] = float64(rss) / 1024
	m["cpu_ms_window"] = float64((cpu1 - cpu0).Microseconds()) / 1000
	m["cpu_ms_window_proc_stat"] = float64((tick1 - tick0).Milliseconds())
	m["rss_base_kib"] = float64(baseRSS)
	m["heap_inuse"] = float64(st.HeapInuse)
	m["stack_inuse"] = float64(st.StackInuse)
	m["sys"] = float64(st.Sys)
	m["goroutines"] = float64(st.Goroutines)
	m["subscribers_after_window"] = float64(after.Subscribers)
	if after.Subscribers != n {
		ir.Notes = append(ir.Notes, fmt.Sprintf("server held %d subscribers after the idle window, want %d", after.Subscribers, n))
	}
	return nil
}

// burst is one fanout burst's measurements.
type burst struct {
	Delivered  int64   `json:"delivered"`
	Missing    int64   `json:"missing"`
	DurationMS float64 `json:"duration_ms"`
	CPUMS      float64 `json:"cpu_ms"`
	PerSecond  float64 `json:"deliveries_per_s"`
	Complete   bool    `json:"complete"`
}

func runFanout(ctx context.Context, r *run, ir *implResult) error {
	if err := r.ready(ctx, r.subs); err != nil {
		return err
	}
	return measureFanout(ctx, r, ir)
}

// measureFanout runs the fanout bursts to subscribers that are ready.
func measureFanout(ctx context.Context, r *run, ir *implResult) error {
	c := r.c
	load0 := r.loadCPU()
	var mallocs0 uint64 // at the start of the second burst, or the first if it is the only one
	var (
		bursts           []burst
		delivered        int64
		dur, cpu, ticks  time.Duration
		missing, lastEvt int64
	)
	for b := range c.FanoutBursts {
		if err := r.expect(int64((b+1)*c.FanoutEvents), false); err != nil {
			return err
		}
		if b == min(1, c.FanoutBursts-1) {
			st, err := r.srv.stats(ctx)
			if err != nil {
				return err
			}
			mallocs0 = st.Mallocs
		}
		cpu0, tick0, err := r.srv.cpu(ctx)
		if err != nil {
			return err
		}
		t0 := time.Now()
		if _, err := r.srv.publish(ctx, topicName, c.FanoutEvents, c.Size, 0, false); err != nil {
			return err
		}
		w, err := r.wait()
		if err != nil {
			return err
		}
		end := time.Now()
		cpu1, tick1, err := r.srv.cpu(ctx)
		if err != nil {
			return err
		}
		if w.Done {
			end = time.Unix(0, w.DoneAtNS)
		}
		bu := burst{
			Delivered:  w.Events - lastEvt,
			Missing:    w.Missing,
			DurationMS: float64(end.Sub(t0).Microseconds()) / 1000,
			CPUMS:      float64((cpu1 - cpu0).Microseconds()) / 1000,
			Complete:   w.Done,
		}
		bu.PerSecond = float64(bu.Delivered) / end.Sub(t0).Seconds()
		lastEvt = w.Events
		bursts = append(bursts, bu)
		delivered += bu.Delivered
		dur += end.Sub(t0)
		cpu += cpu1 - cpu0
		ticks += tick1 - tick0
		r.logf("burst %d: %d deliveries in %.1f ms (%.0f/s), missing %d", b+1, bu.Delivered, bu.DurationMS, bu.PerSecond, w.Missing)
		if !w.Done {
			missing = w.Missing + int64(c.FanoutBursts-b-1)*int64(c.FanoutEvents)*int64(r.subs)
			ir.Notes = append(ir.Notes, fmt.Sprintf("burst %d incomplete: %d subscribers short by %d events in all (%d connections closed); later bursts skipped and counted as missing", b+1, w.Short, w.Missing, w.Closed))
			break
		}
	}
	ms := make([]float64, len(bursts))
	for i, b := range bursts {
		ms[i] = b.DurationMS
	}
	slices.Sort(ms)
	m := ir.Metrics
	m["deliveries_per_s"] = float64(delivered) / dur.Seconds()
	m["burst_ms_median"] = ms[len(ms)/2]
	if delivered > 0 {
		m["cpu_us_per_delivery"] = float64(cpu.Microseconds()) / float64(delivered)
	}
	if st1, err := r.srv.stats(ctx); err == nil && len(bursts) > 0 {
		// Everything the server allocated in the steady state (the first
		// burst grows each subscriber's buffers), publishing and the
		// harness's own requests included, per delivery.
		var n int64
		for _, b := range bursts[min(1, len(bursts)-1):] {
			n += b.Delivered
		}
		if n > 0 {
			m["allocs_per_delivery"] = float64(st1.Mallocs-mallocs0) / float64(n)
		}
	}
	m["missing"] = float64(missing)
	m["delivered"] = float64(delivered)
	m["cpu_ms"] = float64(cpu.Microseconds()) / 1000
	m["cpu_ms_proc_stat"] = float64(ticks.Milliseconds())
	if delivered > 0 {
		m["load_cpu_us_per_delivery"] = float64((r.loadCPU() - load0).Microseconds()) / float64(delivered)
	}
	ir.Detail = bursts
	return nil
}

func runLatency(ctx context.Context, r *run, ir *implResult) error {
	c := r.c
	if err := r.ready(ctx, r.subs); err != nil {
		return err
	}
	total := int(float64(c.LatencyRate) * c.LatencyDuration.Seconds())
	if err := r.expect(int64(total), true); err != nil {
		return err
	}
	r.logf("publishing %d events at %d/s", total, c.LatencyRate)
	load0 := r.loadCPU()
	cpu0, _, err := r.srv.cpu(ctx)
	if err != nil {
		return err
	}
	pub, err := r.srv.publish(ctx, topicName, total, c.Size, c.LatencyRate, false)
	if err != nil {
		return err
	}
	w, err := r.wait()
	if err != nil {
		return err
	}
	cpu1, _, err := r.srv.cpu(ctx)
	if err != nil {
		return err
	}
	ir.Metrics["server_cpu_s"] = (cpu1 - cpu0).Seconds()
	ir.Metrics["load_cpu_s"] = (r.loadCPU() - load0).Seconds()
	h, err := r.hist()
	if err != nil {
		return err
	}
	q, samples := quantiles(h, 0.5, 0.99, 0.999, 1)
	m := ir.Metrics
	m["p50_ms"], m["p99_ms"], m["p999_ms"], m["max_ms"] = q[0]/1000, q[1]/1000, q[2]/1000, q[3]/1000
	m["missing"] = float64(w.Missing)
	m["samples"] = float64(samples)
	m["publish_s"] = float64(pub.ElapsedNS) / 1e9
	if !w.Done {
		ir.Notes = append(ir.Notes, fmt.Sprintf("%d subscribers short by %d deliveries (%d connections closed)", w.Short, w.Missing, w.Closed))
	}
	return nil
}

func runChurn(ctx context.Context, r *run, ir *implResult) error {
	c := r.c
	if err := r.ready(ctx, r.subs); err != nil {
		return err
	}
	// Publish a second longer than the churn, so a go-sse churner (whose
	// head comes with the next event) is never left without one.
	total := int(float64(c.ChurnRate) * (c.ChurnDuration + time.Second).Seconds())
	if err := r.expect(int64(total), true); err != nil {
		return err
	}
	var (
		wg     sync.WaitGroup
		pubErr error
		churn  loadReply
		chErr  error
	)
	r.logf("churning with %d workers for %v", c.ChurnWorkers, c.ChurnDuration)
	wg.Go(func() { _, pubErr = r.srv.publish(ctx, topicName, total, c.Size, c.ChurnRate, false) })
	wg.Go(func() {
		churn, chErr = r.loads[0].call(loadCmd{
			Op: "churn", Addr: r.srv.hello.Addr, Target: r.srv.hello.Prefix + topicName,
			Workers: c.ChurnWorkers, DurationMS: c.ChurnDuration.Milliseconds(),
		})
	})
	wg.Wait()
	if pubErr != nil {
		return pubErr
	}
	if chErr != nil {
		return chErr
	}
	w, err := r.wait()
	if err != nil {
		return err
	}
	h, err := r.hist()
	if err != nil {
		return err
	}
	q, _ := quantiles(h, 0.99)
	final, werr := r.waitSubscribers(ctx, r.subs)
	m := ir.Metrics
	m["cycles_per_s"] = float64(churn.Cycles) / (float64(churn.ElapsedNS) / 1e9)
	m["cycles"] = float64(churn.Cycles)
	m["cycle_errors"] = float64(churn.CycleErrors)
	m["steady_p99_ms"] = q[0] / 1000
	m["missing"] = float64(w.Missing)
	m["leaked"] = float64(final - r.subs)
	if r.impl == "gosse" {
		ir.Notes = append(ir.Notes, fmt.Sprintf("go-sse sends the response head with the first event, so each cycle waits for the next event: at most workers × rate = %d cycles/s", c.ChurnWorkers*c.ChurnRate))
	}
	if churn.FirstErr != "" {
		ir.Notes = append(ir.Notes, "churn failures: "+churn.FirstErr)
	}
	if werr != nil {
		ir.Notes = append(ir.Notes, "subscriber count did not return to steady: "+werr.Error())
	}
	if !w.Done {
		ir.Notes = append(ir.Notes, fmt.Sprintf("%d steady subscribers short by %d deliveries (%d connections closed)", w.Short, w.Missing, w.Closed))
	}
	return nil
}
