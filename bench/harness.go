package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// topicName is the topic every scenario uses.
const topicName = "bench"

// harness runs the chosen scenarios for each implementation, prints a
// table per scenario on stdout and writes the JSON results.
func harness(ctx context.Context, c config, stdout, stderr io.Writer) error {
	res, err := runAll(ctx, c, stderr)
	for _, s := range res.Scenarios {
		fmt.Fprintln(stdout, s.markdown())
	}
	if idle := idleSizes(res); idle != nil {
		fmt.Fprintln(stdout, scalingMarkdown(idle))
		if c.PlotPath != "" {
			f, perr := os.Create(c.PlotPath)
			if perr == nil {
				perr = errors.Join(writeScalingSVG(f, idle), f.Close())
			}
			if perr != nil {
				return perr
			}
			fmt.Fprintf(stderr, "bench: wrote %s\n", c.PlotPath)
		}
	}
	if c.JSONPath != "" {
		b, jerr := json.MarshalIndent(res, "", "  ")
		if jerr == nil {
			jerr = os.WriteFile(c.JSONPath, append(b, '\n'), 0o644)
		}
		if jerr != nil {
			return jerr
		}
		fmt.Fprintf(stderr, "bench: wrote %s\n", c.JSONPath)
	}
	return err
}

// results is the whole run, as written to -json.
type results struct {
	Started   time.Time         `json:"started"`
	WallNS    int64             `json:"wall_ns"`
	Config    config            `json:"config"`
	Scenarios []*scenarioResult `json:"scenarios"`
}

// runAll runs every scenario for every implementation, one server process
// at a time. A failing implementation is reported in its column; the run
// goes on.
func runAll(ctx context.Context, c config, stderr io.Writer) (*results, error) {
	res := &results{Started: time.Now(), Config: c}
	if c.ProfileDir != "" {
		dir, err := filepath.Abs(c.ProfileDir)
		if err == nil {
			err = os.MkdirAll(dir, 0o755)
		}
		if err != nil {
			return res, err
		}
		c.ProfileDir = dir
	}
	defer func() { res.WallNS = int64(time.Since(res.Started)) }()
	p := &progress{w: stderr, start: res.Started}
	for _, name := range c.Scenarios {
		if name == "cluster" {
			res.Scenarios = append(res.Scenarios, runCluster(ctx, c, p))
			continue
		}
		def := scenarios[name]
		sizes := []int{def.subs(c)}
		if name == "idle" && len(c.IdleSteps) > 0 {
			sizes = c.IdleSteps
		}
		runs := max(def.runs, 1)
		if c.Runs > 0 {
			runs = c.Runs
		}
		for _, n := range sizes {
			sr := &scenarioResult{Name: name, Subscribers: n, Impls: c.Impls, Results: map[string]*implResult{}, rows: def.rows}
			sr.Title = fmt.Sprintf("%s: %s", name, def.title(c, n))
			if runs > 1 {
				sr.Title += fmt.Sprintf(" (median of %d runs, implementations interleaved)", runs)
			}
			res.Scenarios = append(res.Scenarios, sr)
			all := map[string][]*implResult{}
			// Implementations take turns run by run, so a stretch of noise
			// on this shared machine does not fall on one of them alone.
			for run := range runs {
				for _, impl := range c.Impls {
					if ctx.Err() != nil {
						return res, ctx.Err()
					}
					of := ""
					if runs > 1 {
						of = fmt.Sprintf(", run %d of %d", run+1, runs)
					}
					p.printf("%s %s: start (%d subscribers%s)", name, impl, n, of)
					ir := runOne(ctx, c, name, def, impl, n, p)
					all[impl] = append(all[impl], ir)
					if ir.Error != "" {
						p.printf("%s %s: FAILED: %s", name, impl, ir.Error)
					} else {
						p.printf("%s %s: done %s", name, impl, ir.summary(def.rows))
					}
				}
			}
			for impl, irs := range all {
				sr.Results[impl] = medianOf(irs)
			}
		}
	}
	return res, ctx.Err()
}

// runOne starts a server and enough load processes for n subscribers,
// runs one scenario, and stops them all.
func runOne(ctx context.Context, c config, name string, def scenario, impl string, n int, p *progress) *implResult {
	ir := &implResult{Metrics: map[string]float64{}}
	profile := ""
	if c.ProfileDir != "" {
		profile = filepath.Join(c.ProfileDir, fmt.Sprintf("%s-%d-%s.pprof", name, n, impl))
	}
	r, err := startRun(ctx, c, impl, n, profile, p)
	if err != nil {
		ir.Error = err.Error()
		return ir
	}
	err = def.run(ctx, r, ir)
	r.stop()
	ir.ServerLog = r.srv.log.Lines()
	for _, l := range r.loads {
		ir.LoadLog = append(ir.LoadLog, l.log.Lines()...)
	}
	if err != nil {
		ir.Error = err.Error()
	}
	if len(ir.ServerLog) > 0 {
		ir.Notes = append(ir.Notes, fmt.Sprintf("server stderr (%d lines kept in the JSON), first: %.200s", len(ir.ServerLog), ir.ServerLog[0]))
	}
	return ir
}

// progress prints timestamped lines to stderr.
type progress struct {
	w     io.Writer
	start time.Time
	mu    sync.Mutex
}

func (p *progress) printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// run is one implementation's server with its load processes.
type run struct {
	c     config
	impl  string
	subs  int // subscribers the scenario uses
	srv   *serverProc
	loads []*child
	p     *progress
}

func startRun(ctx context.Context, c config, impl string, subs int, profile string, p *progress) (*run, error) {
	srv, err := startServer(ctx, impl, c.Deadline, profile)
	if err != nil {
		return nil, err
	}
	r := &run{c: c, impl: impl, subs: subs, srv: srv, p: p}
	nload := max(1, (subs+c.ConnsPerLoad-1)/c.ConnsPerLoad)
	for i := range nload {
		l, err := startChild(ctx, fmt.Sprintf("%s load %d", impl, i), "-role", "load", "-load-index", strconv.Itoa(i), "-deadline", c.Deadline.String())
		if err != nil {
			r.stop()
			return nil, err
		}
		r.loads = append(r.loads, l)
	}
	return r, nil
}

func (r *run) stop() {
	var wg sync.WaitGroup
	for _, l := range r.loads {
		wg.Go(l.stop)
	}
	wg.Wait()
	r.srv.stop()
}

func (r *run) logf(format string, args ...any) {
	r.p.printf("  %s: %s", r.impl, fmt.Sprintf(format, args...))
}

// all sends cmd(i) to every load process at once and gathers the replies.
func (r *run) all(cmd func(i int) loadCmd) ([]loadReply, error) {
	out := make([]loadReply, len(r.loads))
	errs := make([]error, len(r.loads))
	var wg sync.WaitGroup
	for i, l := range r.loads {
		wg.Go(func() { out[i], errs[i] = l.call(cmd(i)) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

func (r *run) broadcast(cmd loadCmd) ([]loadReply, error) {
	return r.all(func(int) loadCmd { return cmd })
}

// connect opens n subscribers to the topic, spread evenly over the load
// processes, and returns once every request is sent.
func (r *run) connect(n int) error {
	k := len(r.loads)
	reps, err := r.all(func(i int) loadCmd {
		return loadCmd{Op: "connect", Addr: r.srv.hello.Addr, Target: r.srv.hello.Prefix + topicName, N: n/k + b2i(i < n%k)}
	})
	if err != nil {
		return err
	}
	failed := 0
	first := ""
	for _, rep := range reps {
		failed += rep.Failed
		if first == "" {
			first = rep.FirstErr
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d subscribers failed to connect, first: %s", failed, n, first)
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sum adds up a field over the load processes' replies.
func sum(reps []loadReply, f func(loadReply) int64) int64 {
	var t int64
	for _, r := range reps {
		t += f(r)
	}
	return t
}

// waitSubscribers polls /bench/stats until the server holds want
// subscribers, for at most -wait-timeout. It returns the last count.
func (r *run) waitSubscribers(ctx context.Context, want int) (int, error) {
	deadline := time.Now().Add(r.c.WaitTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		st, err := r.srv.stats(ctx)
		if err != nil {
			return 0, err
		}
		if st.Subscribers == want {
			return want, nil
		}
		if time.Now().After(deadline) {
			return st.Subscribers, fmt.Errorf("server holds %d subscribers after %v, want %d", st.Subscribers, r.c.WaitTimeout, want)
		}
		select {
		case <-ctx.Done():
			return st.Subscribers, ctx.Err()
		case <-tick.C:
		}
	}
}

// warmUp publishes warm-up events until every subscriber has received one,
// so each stream is known to be registered and to have its response head
// (go-sse sends the head with the first event) before anything is timed.
func (r *run) warmUp(ctx context.Context, want int) error {
	deadline := time.Now().Add(r.c.WaitTimeout)
	for {
		if _, err := r.srv.publish(ctx, topicName, 1, 32, 0, true); err != nil {
			return err
		}
		// Give this event up to a second to arrive everywhere.
		next := time.Now().Add(time.Second)
		for {
			reps, err := r.broadcast(loadCmd{Op: "status"})
			if err != nil {
				return err
			}
			warm := int(sum(reps, func(x loadReply) int64 { return int64(x.Warm) }))
			if warm >= want {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d subscribers got a warm-up event within %v (bad status %d, closed %d)",
					warm, want, r.c.WaitTimeout, sum(reps, func(x loadReply) int64 { return int64(x.BadStatus) }), sum(reps, func(x loadReply) int64 { return int64(x.Closed) }))
			}
			if time.Now().After(next) {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

// ready connects n subscribers and waits until the server counts them and
// each has had a warm-up event.
func (r *run) ready(ctx context.Context, n int) error {
	r.logf("connecting %d subscribers", n)
	start := time.Now()
	if err := r.connect(n); err != nil {
		return err
	}
	if _, err := r.waitSubscribers(ctx, n); err != nil {
		return err
	}
	if err := r.warmUp(ctx, n); err != nil {
		return err
	}
	r.logf("%d subscribers ready in %.1fs", n, time.Since(start).Seconds())
	return nil
}

// expect tells every load process how many timed events each subscriber
// should reach; wait then waits for it (see gen.expect and gen.wait).
func (r *run) expect(n int64, latency bool) error {
	_, err := r.broadcast(loadCmd{Op: "expect", Expect: n, Latency: latency})
	return err
}

// waitResult sums the load processes' answers to wait.
type waitResult struct {
	Done     bool  `json:"done"`
	DoneAtNS int64 `json:"done_at_ns"` // the latest of them
	Events   int64 `json:"events"`
	Short    int64 `json:"short"`
	Missing  int64 `json:"missing"`
	Closed   int64 `json:"closed"`
}

func (r *run) wait() (waitResult, error) {
	reps, err := r.broadcast(loadCmd{Op: "wait", TimeoutMS: r.c.WaitTimeout.Milliseconds(), StallMS: r.c.Stall.Milliseconds()})
	w := waitResult{Done: err == nil}
	for _, x := range reps {
		w.Done = w.Done && x.Done
		w.DoneAtNS = max(w.DoneAtNS, x.DoneAtNS)
		w.Events += x.Events
		w.Short += int64(x.Short)
		w.Missing += x.Missing
		w.Closed += int64(x.Closed)
	}
	return w, err
}

// loadCPU is the CPU time the load processes have used, from
// /proc/<pid>/stat (10 ms ticks).
func (r *run) loadCPU() time.Duration {
	var t time.Duration
	for _, l := range r.loads {
		if d, err := procCPU(l.pid()); err == nil {
			t += d
		}
	}
	return t
}

func (r *run) hist() ([][][2]uint64, error) {
	reps, err := r.broadcast(loadCmd{Op: "hist"})
	out := make([][][2]uint64, len(reps))
	for i, x := range reps {
		out[i] = x.Hist
	}
	return out, err
}

// medianOf merges the runs of one implementation: each metric's median
// over the runs that did not fail, every run's metrics kept in Runs, and
// the first failure, if any.
func medianOf(irs []*implResult) *implResult {
	if len(irs) == 1 {
		return irs[0]
	}
	out := &implResult{Metrics: map[string]float64{}, ServerLog: irs[0].ServerLog, LoadLog: irs[0].LoadLog}
	values := map[string][]float64{}
	for _, ir := range irs {
		out.Runs = append(out.Runs, ir.Metrics)
		for _, n := range ir.Notes {
			if !slices.Contains(out.Notes, n) {
				out.Notes = append(out.Notes, n)
			}
		}
		if ir.Error != "" {
			if out.Error == "" {
				out.Error = ir.Error
			}
			continue
		}
		for k, v := range ir.Metrics {
			values[k] = append(values[k], v)
		}
	}
	for k, vs := range values {
		slices.Sort(vs)
		if len(vs)%2 == 1 {
			out.Metrics[k] = vs[len(vs)/2]
		} else {
			out.Metrics[k] = (vs[len(vs)/2-1] + vs[len(vs)/2]) / 2
		}
	}
	return out
}
