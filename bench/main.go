// Command bench compares herald with two Go SSE peers, github.com/tmaxmax/go-sse
// and github.com/r3labs/sse/v2, on one machine. See README.md.
//
// The same binary plays three roles: the harness (the default), a server
// under test (-role server) and a load generator (-role load). The harness
// starts the other two by executing itself again, so each server runs alone
// in its own process and is killed after its scenario.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const usage = `bench measures herald against github.com/tmaxmax/go-sse (gosse) and
github.com/r3labs/sse/v2 (r3labs) over HTTP on loopback. Each server runs in
its own process, one at a time; raw-TCP SSE clients run in separate load
processes (at most -conns-per-load connections each, spread over source
addresses 127.0.0.2-127.0.0.254).

Scenarios (-scenario, run for every -impl in the same invocation):
  idle     -idle-subs subscribers connect and get one warm-up event; after
           a GC and -settle, reports server RSS, Go heap+stack and
           goroutines per subscriber, then server CPU over -idle-window.
           -idle-steps runs it at several sizes.
  fanout   -fanout-subs subscribers on one topic; -fanout-bursts bursts of
           -fanout-events events of -size bytes, published as fast as
           possible. Per burst: time from the publish request until every
           subscriber has every event; deliveries/s; server CPU per delivery.
  latency  -latency-subs subscribers; -latency-rate events/s for
           -latency-duration; publish-to-receive p50/p99/p99.9 measured from
           each event's scheduled send time, and missing deliveries.
  churn    -churn-subs steady subscribers get -churn-rate events/s while
           -churn-workers connect, read the response head, and disconnect
           for -churn-duration; reports cycles/s, the steady subscribers'
           deliveries, and whether the server's count returns to the steady
           number.
  all      all of the above, in that order.
  presence herald alone, with presence off, in memory and in Redis:
           -presence-subs idle subscribers; server memory per subscriber,
           Redis memory and commands per second (INFO commandstats) over
           -idle-window. Not part of "all"; needs a redis-server.
  cluster  herald serve on one Redis: one node, then -cluster-nodes nodes
           (subscribers spread over them, publishers on all): a fan-out
           burst, publish→receive latency at -cluster-rate, the highest
           publish rate whose p99 stays within -cluster-ramp-p99, then one
           node SIGKILLed while clients of herald's client package reconnect
           to the others: lost, duplicated, time to recover. Not in "all".

Memory readings follow a runtime.GC() in the server (POST /bench/gc), so they
show live memory rather than garbage. The machine is shared by the server and
the load generator; figures compare implementations run the same way, not
absolute capacity.

Flags:
`

// config is everything the harness's flags set.
type config struct {
	Scenarios []string
	Impls     []string
	JSONPath  string

	IdleSubs   int
	IdleSteps  []int
	Settle     time.Duration
	IdleWindow time.Duration

	FanoutSubs   int
	FanoutBursts int
	FanoutEvents int
	Size         int

	LatencySubs     int
	LatencyRate     int
	LatencyDuration time.Duration

	ChurnSubs     int
	ChurnRate     int
	ChurnWorkers  int
	ChurnDuration time.Duration

	ConnsPerLoad int
	WaitTimeout  time.Duration
	Stall        time.Duration
	Deadline     time.Duration
	ProfileDir   string
	PlotPath     string
	Runs         int

	Cluster clusterConfig
}

var (
	allScenarios = []string{"idle", "fanout", "latency", "churn"}
	allImpls     = []string{"herald", "gosse", "r3labs"}
)

func main() {
	os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
}

// cli parses args and plays the chosen role. It returns the exit code.
func cli(args []string, stdout, stderr io.Writer) int {
	if runtime.GOOS != "linux" {
		fmt.Fprintln(stderr, "bench: Linux only (it reads /proc and binds 127.0.0.x source addresses)")
		return 2
	}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, usage)
		printFlags(fs, stderr)
	}
	var (
		role, addr, cpuProfile string
		scenario, impls        string
		steps                  string
		c                      config
	)
	// Hidden flags for the child roles; the usage text does not list them.
	fs.StringVar(&role, "role", "", hidden)
	fs.StringVar(&addr, "addr", "127.0.0.1:0", hidden)
	loadIndex := fs.Int("load-index", 0, hidden)
	fs.StringVar(&cpuProfile, "cpuprofile", "", hidden)

	fs.StringVar(&scenario, "scenario", "all", "scenario to run: idle, fanout, latency, churn or all; comma-separated for several")
	fs.StringVar(&impls, "impl", strings.Join(allImpls, ","), "implementations to run, comma-separated: herald, gosse, r3labs")
	fs.StringVar(&c.JSONPath, "json", "results.json", "write the full results as JSON to this file; empty skips it")
	fs.IntVar(&c.IdleSubs, "idle-subs", 15000, "idle: subscribers")
	fs.StringVar(&steps, "idle-steps", "", "idle: comma-separated subscriber counts to run instead of -idle-subs, e.g. 1000,5000,10000,15000")
	fs.DurationVar(&c.Settle, "settle", 15*time.Second, "idle: wait after the GC before reading memory and CPU; the default is one heartbeat period of herald's, since a stream that carried the warm-up event skips its next heartbeat")
	fs.DurationVar(&c.IdleWindow, "idle-window", 15*time.Second, "idle: window over which server CPU is measured")
	fs.IntVar(&c.FanoutSubs, "fanout-subs", 10000, "fanout: subscribers on the one topic")
	fs.IntVar(&c.FanoutBursts, "fanout-bursts", 5, "fanout: bursts")
	fs.IntVar(&c.FanoutEvents, "fanout-events", 100, "fanout: events per burst")
	fs.IntVar(&c.Size, "size", 64, "fanout, latency, churn: event data size in bytes (at least 20: the send time is 19 digits)")
	fs.IntVar(&c.LatencySubs, "latency-subs", 1000, "latency: subscribers")
	fs.IntVar(&c.LatencyRate, "latency-rate", 1000, "latency: events per second")
	fs.DurationVar(&c.LatencyDuration, "latency-duration", 5*time.Second, "latency: how long to publish")
	fs.IntVar(&c.ChurnSubs, "churn-subs", 1000, "churn: steady subscribers")
	fs.IntVar(&c.ChurnRate, "churn-rate", 100, "churn: events per second to the steady subscribers")
	fs.IntVar(&c.ChurnWorkers, "churn-workers", 32, "churn: goroutines connecting and disconnecting")
	fs.DurationVar(&c.ChurnDuration, "churn-duration", 10*time.Second, "churn: how long the workers run")
	fs.IntVar(&c.ConnsPerLoad, "conns-per-load", 9000, "most connections one load process holds (this machine allows 20,000 open files per process)")
	fs.DurationVar(&c.WaitTimeout, "wait-timeout", 60*time.Second, "longest wait for any delivery or subscriber count before giving up and reporting what is missing")
	fs.DurationVar(&c.Stall, "stall", 5*time.Second, "give up waiting for deliveries once none has arrived for this long")
	fs.IntVar(&c.Runs, "runs", 0, "run each scenario this many times per implementation, interleaved, and report the median; 0 means each scenario's default (3 for churn, 1 for the rest)")
	fs.StringVar(&c.PlotPath, "plot", "", "with -idle-steps, also draw RSS per idle subscriber against subscribers as an SVG at this path")
	fs.StringVar(&c.ProfileDir, "profile", "", "write a CPU profile (and an allocations profile, .allocs.pprof) of each server process to this directory, as <scenario>-<subscribers>-<impl>.pprof")
	fs.DurationVar(&c.Deadline, "deadline", 15*time.Minute, "the whole run, and every child process, stops after this long")
	pc := presenceFlags(fs)
	clusterFlags(fs, &c.Cluster)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	raiseFileLimit()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelDeadline := context.WithTimeout(ctx, c.Deadline)
	defer cancelDeadline()

	var err error
	switch role {
	case "server":
		err = serveRole(ctx, impls, addr, cpuProfile, os.Stdin, stdout)
	case "load":
		err = loadRole(ctx, *loadIndex, os.Stdin, stdout)
	case "":
		if scenario == "presence" { // herald against itself, outside "all": presence.go
			err = runPresenceScenario(ctx, c, pc, stdout, stderr)
			break
		}
		c.Scenarios, err = parseList(scenario, append(slices.Clone(allScenarios), soloScenarios...), "scenario")
		if scenario == "all" {
			c.Scenarios = allScenarios
		}
		if err == nil {
			c.Impls, err = parseList(impls, allImpls, "impl")
		}
		if err == nil && steps != "" {
			c.IdleSteps, err = parseInts(steps)
		}
		if err == nil && c.Size < 20 {
			err = fmt.Errorf("-size %d: must be at least 20", c.Size)
		}
		if err != nil {
			fmt.Fprintln(stderr, "bench:", err)
			return 2
		}
		err = harness(ctx, c, stdout, stderr)
	default:
		err = fmt.Errorf("unknown role %q", role)
	}
	if err != nil {
		fmt.Fprintf(stderr, "bench %s: %v\n", role, err)
		return 1
	}
	return 0
}

// hidden is the usage of the flags only child processes use.
const hidden = "(internal: for the child processes the harness starts)"

// printFlags prints the flags as flag.PrintDefaults does, leaving out the
// hidden ones.
func printFlags(fs *flag.FlagSet, w io.Writer) {
	fs.VisitAll(func(f *flag.Flag) {
		if f.Usage == hidden {
			return
		}
		name, use := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  -%s %s\n    \t%s", f.Name, name, use)
		if f.DefValue != "" && f.DefValue != "0" {
			fmt.Fprintf(w, " (default %s)", f.DefValue)
		}
		fmt.Fprintln(w)
	})
}

func parseList(s string, known []string, what string) ([]string, error) {
	if s == "all" {
		return known, nil
	}
	var out []string
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		ok := false
		for _, k := range known {
			ok = ok || k == f
		}
		if !ok {
			return nil, fmt.Errorf("unknown %s %q (known: %s, all)", what, f, strings.Join(known, ", "))
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s given", what)
	}
	return out, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-idle-steps: %q is not a positive count", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// raiseFileLimit lifts the soft limit on open files to the hard limit.
func raiseFileLimit() {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return
	}
	if l.Cur < l.Max {
		l.Cur = l.Max
		_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l)
	}
}
