package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The storm scenario (issue 13): a server holds a history of M events;
// N clients reconnect at once with the Last-Event-ID of the event just
// before it, and each must get all M, once and in order. It measures the
// time until every client has every event and the server's peak RSS
// growth, the cost of replay per reconnecting client.

// stormConfig is the storm scenario's flags.
type stormConfig struct {
	Clients int
	Events  int
	Size    int
}

func stormFlags(fs *flag.FlagSet, c *stormConfig) {
	fs.IntVar(&c.Clients, "storm-clients", 2000, "storm: clients that reconnect at once")
	fs.IntVar(&c.Events, "storm-events", 2000, "storm: events in the history each client resumes from the start of")
	fs.IntVar(&c.Size, "storm-size", 200, "storm: event data size in bytes")
}

func init() {
	scenarios["storm"] = scenario{
		subs: func(c config) int { return c.Storm.Clients },
		title: func(c config, n int) string {
			return fmt.Sprintf("%d clients reconnect at once with Last-Event-ID at the start of a %d-event history (%d-byte events)", n, c.Storm.Events, c.Storm.Size)
		},
		rows: []row{
			{"time_s", "time until every client has every event, s (from the first dial)", -1},
			{"peak_rss_kib_per_client", "peak RSS growth per client, KiB (VmHWM − RSS before the storm)", -1},
			{"peak_rss_mib", "peak server RSS, MiB", -1},
			{"lost", "lost events: not received when the wait ended (all clients)", -1},
			{"duplicated", "duplicated events (all clients)", -1},
			{"out_of_order", "events out of order (all clients)", -1},
			{"server_cpu_s", "server CPU, s (storm only)", -1},
		},
		run: runStorm,
		setup: func(c config) runSetup {
			// One more than the storm's events: the seed the clients resume
			// after is kept too.
			return runSetup{ServerArgs: []string{"-history", strconv.Itoa(c.Storm.Events + 1)}}
		},
	}
	extraScenarios = append(extraScenarios, "storm")
}

func runStorm(ctx context.Context, r *run, ir *implResult) error {
	c := r.c.Storm
	pid := r.srv.pid()
	seed, err := r.seedID(ctx)
	if err != nil {
		return fmt.Errorf("seed event: %w", err)
	}
	r.logf("seed event id %q; publishing %d events of %d bytes", seed, c.Events, c.Size)
	if _, err := r.srv.publishSeq(ctx, topicName, c.Events, c.Size); err != nil {
		return err
	}
	if err := r.srv.gc(ctx); err != nil {
		return err
	}
	rss0, err := procRSS(pid)
	if err != nil {
		return err
	}
	// Reset the peak RSS (VmHWM) to the current RSS; a sampler keeps its
	// own maximum as a check, and the fallback where clear_refs is refused.
	hwmReset := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
	sampled := sampleRSS(pid, 20*time.Millisecond)
	cpu0, _, err := r.srv.cpu(ctx)
	if err != nil {
		sampled()
		return err
	}
	r.logf("RSS %.1f MiB with the history; %d clients reconnect", float64(rss0)/1024, r.subs)
	k := len(r.loads)
	t0 := time.Now()
	reps, err := r.all(func(i int) loadCmd {
		return loadCmd{
			Op: "connect", Addr: r.srv.hello.Addr, Target: r.srv.hello.Prefix + topicName,
			N: r.subs/k + b2i(i < r.subs%k), LastEventID: seed,
			Expect: int64(c.Events), Seq: c.Events,
		}
	})
	if err == nil {
		if failed := sum(reps, func(x loadReply) int64 { return int64(x.Failed) }); failed > 0 {
			err = fmt.Errorf("%d of %d clients failed to connect, first: %s", failed, r.subs, reps[0].FirstErr)
		}
	}
	if err != nil {
		sampled()
		return err
	}
	reps, err = r.broadcast(loadCmd{Op: "wait", TimeoutMS: r.c.WaitTimeout.Milliseconds(), StallMS: r.c.Stall.Milliseconds()})
	end := time.Now()
	peakSampled := sampled()
	if err != nil {
		return err
	}
	done, doneAt := true, int64(0)
	var seq seqReply
	for _, x := range reps {
		done = done && x.Done
		doneAt = max(doneAt, x.DoneAtNS)
		seq.add(x.Seq)
	}
	if done {
		end = time.Unix(0, doneAt)
	}
	cpu1, _, err := r.srv.cpu(ctx)
	if err != nil {
		return err
	}
	peak, err := procStatusKiB(pid, "VmHWM")
	if err != nil || hwmReset != nil {
		peak = 0 // the sampler's figure below
		ir.Notes = append(ir.Notes, fmt.Sprintf("peak RSS from sampling every 20 ms (VmHWM reset: %v)", errors.Join(hwmReset, err)))
	}
	peak = max(peak, peakSampled)
	m := ir.Metrics
	m["time_s"] = end.Sub(t0).Seconds()
	m["peak_rss_kib_per_client"] = float64(peak-rss0) / float64(r.subs)
	m["peak_rss_mib"] = float64(peak) / 1024
	m["rss_before_mib"] = float64(rss0) / 1024
	m["peak_rss_sampled_mib"] = float64(peakSampled) / 1024
	m["lost"] = float64(seq.Lost)
	m["missing"] = float64(seq.Lost)
	m["duplicated"] = float64(seq.Dup)
	m["out_of_order"] = float64(seq.Disorder)
	m["foreign"] = float64(seq.Foreign)
	m["clients_checked"] = float64(seq.Clients)
	m["server_cpu_s"] = (cpu1 - cpu0).Seconds()
	m["deliveries_per_s"] = float64(r.subs) * float64(c.Events) / end.Sub(t0).Seconds()
	if !done {
		short := sum(reps, func(x loadReply) int64 { return int64(x.Short) })
		closed := sum(reps, func(x loadReply) int64 { return int64(x.Closed) })
		ir.Notes = append(ir.Notes, fmt.Sprintf("incomplete after %v: %d clients short (%d connections closed); time is until the wait gave up", end.Sub(t0).Round(time.Millisecond), short, closed))
	}
	if seq.Foreign > 0 {
		ir.Notes = append(ir.Notes, fmt.Sprintf("%d events outside 1..%d", seq.Foreign, c.Events))
	}
	return nil
}

// seedID publishes one warm-up event, the seed, to a probe subscriber and
// returns the event ID the implementation gave it: storm clients resume
// after it, so they ask for the whole history published next, whatever the
// implementation's ID format.
func (r *run) seedID(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, r.c.WaitTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.srv.url(r.srv.hello.Prefix+topicName), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	got := make(chan string, 1)
	errc := make(chan error, 1)
	go func() {
		// go-sse sends the response head with the first event, so the
		// request is made here while the seed is published below.
		resp, err := http.DefaultTransport.RoundTrip(req)
		if err != nil {
			errc <- err
			return
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			errc <- fmt.Errorf("probe: %s", resp.Status)
			return
		}
		id, data := "", false
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if data && id != "" {
					got <- id
					return
				}
				id, data = "", false
			case strings.HasPrefix(line, "id:"):
				id = strings.TrimPrefix(strings.TrimPrefix(line, "id:"), " ")
			case strings.HasPrefix(line, "data:"):
				data = true
			}
		}
		errc <- fmt.Errorf("probe: stream ended without an event with an id: %v", sc.Err())
	}()
	if _, err := r.waitSubscribers(ctx, 1); err != nil {
		return "", err
	}
	if _, err := r.srv.publish(ctx, topicName, 1, 32, 0, true); err != nil {
		return "", err
	}
	var id string
	select {
	case id = <-got:
	case err = <-errc:
		return "", err
	}
	cancel()
	// The probe is gone before the storm starts.
	_, err = r.waitSubscribers(context.WithoutCancel(ctx), 0)
	return id, err
}

// publishSeq publishes n events numbered 1..n (see benchPublish).
func (s *serverProc) publishSeq(ctx context.Context, topic string, n, size int) (publishResult, error) {
	var res publishResult
	err := s.do(ctx, http.MethodPost, fmt.Sprintf("/bench/publish?topic=%s&n=%d&size=%d&rate=0&kind=seq", topic, n, size), &res)
	if err == nil && res.Errors > 0 {
		err = fmt.Errorf("publish: %d of %d failed, first: %s", res.Errors, n, res.FirstErr)
	}
	return res, err
}

// sampleRSS reads process pid's RSS every interval until the returned
// function is called, which returns the highest reading in KiB.
func sampleRSS(pid int, interval time.Duration) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			if v, err := procRSS(pid); err == nil && v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	return func() int64 {
		close(stop)
		wg.Wait()
		return peak.Load()
	}
}

// seqCheck follows one client's events numbered 1..n: which it has seen,
// how many came twice or out of order. Only the client's reader goroutine
// calls see; the counters are read from others.
type seqCheck struct {
	n                          int64
	seen                       []uint64
	last                       int64
	distinct, dup, disorder, x atomic.Int64
}

func newSeqCheck(n int) *seqCheck {
	if n <= 0 {
		return nil
	}
	return &seqCheck{n: int64(n), seen: make([]uint64, (n+64)/64)}
}

// see records event number v (the leading number of its data).
func (s *seqCheck) see(v int64) {
	if v < 1 || v > s.n {
		s.x.Add(1)
		return
	}
	w, bit := v/64, uint64(1)<<(v%64)
	switch {
	case s.seen[w]&bit != 0:
		s.dup.Add(1)
	case v < s.last:
		s.seen[w] |= bit
		s.distinct.Add(1)
		s.disorder.Add(1)
	default:
		s.seen[w] |= bit
		s.distinct.Add(1)
		s.last = v
	}
}

// seqReply sums the checks of a load process's clients.
type seqReply struct {
	Clients  int   `json:"clients,omitempty"`
	Lost     int64 `json:"lost,omitempty"`     // events never received
	Dup      int64 `json:"dup,omitempty"`      // events received again
	Disorder int64 `json:"disorder,omitempty"` // events received after a later one
	Foreign  int64 `json:"foreign,omitempty"`  // events outside 1..n
}

func (s *seqReply) add(o seqReply) {
	s.Clients += o.Clients
	s.Lost += o.Lost
	s.Dup += o.Dup
	s.Disorder += o.Disorder
	s.Foreign += o.Foreign
}

func (g *gen) seqStatus() seqReply {
	var r seqReply
	for _, c := range g.snapshot() {
		s := c.seq
		if s == nil {
			continue
		}
		r.Clients++
		r.Lost += s.n - s.distinct.Load()
		r.Dup += s.dup.Load()
		r.Disorder += s.disorder.Load()
		r.Foreign += s.x.Load()
	}
	return r
}

// expectNew sets the target of n clients about to connect, before they
// dial, so none can reach it unnoticed.
func (g *gen) expectNew(target int64, n int) {
	g.latency.Store(false)
	g.target.Store(target)
	g.doneAt.Store(0)
	g.remaining.Store(int64(n))
}
