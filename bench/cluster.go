package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	heraldclient "github.com/heraldsse/herald/client"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/redis"
)

// soloScenarios run once, not once per implementation, and only when named:
// "all" does not include them.
var soloScenarios = []string{"cluster"}

// clusterConfig is what the cluster scenario's flags set.
type clusterConfig struct {
	Nodes       int           // herald serve processes in the cluster
	Subs        int           // raw-TCP subscribers, spread over the nodes
	Rate        int           // events/s of the latency phase
	Duration    time.Duration // of the latency phase
	Burst       int           // events of the fan-out burst
	Publishers  int           // concurrent HTTP publishers per node
	RampStart   int           // first publish rate of the ramp
	RampMax     int           // the ramp stops there
	RampStep    time.Duration // how long each rate of the ramp runs
	RampSubs    int           // subscribers per node during the ramp
	RampP99     time.Duration // the ramp stops once p99 passes it
	FailSubs    int           // client-package subscribers per node in the failover phase
	FailRate    int           // events/s during the failover phase
	FailBefore  time.Duration // publishing before the kill
	FailAfter   time.Duration // publishing after the kill
	FailRetry   time.Duration // the nodes' --retry
	Redis       string        // redis:// URL; empty starts a redis-server
	Herald      string        // herald binary; empty builds ../cmd/herald
	ServeFlags  string        // extra flags for every herald serve, space-separated
	redisAbsent bool          // set when no Redis could be had (tests skip)
}

func clusterFlags(fs *flag.FlagSet, c *clusterConfig) {
	fs.IntVar(&c.Nodes, "cluster-nodes", 3, "cluster: herald serve processes on one Redis")
	fs.IntVar(&c.Subs, "cluster-subs", 3000, "cluster: subscribers, spread evenly over the nodes (and all on the one node of the single-node run)")
	fs.IntVar(&c.Rate, "cluster-rate", 100, "cluster: events/s of the latency phase, published round-robin through every node")
	fs.DurationVar(&c.Duration, "cluster-duration", 5*time.Second, "cluster: how long the latency phase publishes")
	fs.IntVar(&c.Burst, "cluster-burst", 100, "cluster: events of the fan-out burst, published as fast as the publishers can")
	fs.IntVar(&c.Publishers, "cluster-publishers", 32, "cluster: concurrent HTTP publishers per node")
	fs.IntVar(&c.RampStart, "cluster-ramp-start", 1000, "cluster: first publish rate (events/s) of the ramp; each next step doubles it")
	fs.IntVar(&c.RampMax, "cluster-ramp-max", 128000, "cluster: the ramp stops after this rate")
	fs.DurationVar(&c.RampStep, "cluster-ramp-step", 2*time.Second, "cluster: how long each rate of the ramp publishes")
	fs.IntVar(&c.RampSubs, "cluster-ramp-subs", 1, "cluster: subscribers per node during the ramp (it measures the log, not fan-out)")
	fs.DurationVar(&c.RampP99, "cluster-ramp-p99", 100*time.Millisecond, "cluster: the ramp stops at the first rate whose publish→receive p99 passes this")
	fs.IntVar(&c.FailSubs, "cluster-fail-subs", 100, "cluster: subscribers per node (herald's client package, reconnecting with Last-Event-ID) in the failover phase")
	fs.IntVar(&c.FailRate, "cluster-fail-rate", 200, "cluster: events/s during the failover phase")
	fs.DurationVar(&c.FailBefore, "cluster-fail-before", time.Second, "cluster: publishing before the last node is killed (SIGKILL)")
	fs.DurationVar(&c.FailAfter, "cluster-fail-after", 3*time.Second, "cluster: publishing after the kill")
	fs.DurationVar(&c.FailRetry, "cluster-retry", 500*time.Millisecond, "cluster: the nodes' --retry, the reconnection time their clients wait")
	fs.StringVar(&c.Redis, "redis", "", "cluster: redis:// URL of the Redis to use; empty starts a private redis-server (on PATH) on a free port")
	fs.StringVar(&c.Herald, "herald", "", "cluster: herald binary; empty builds the repository's cmd/herald")
	fs.StringVar(&c.ServeFlags, "serve-flags", "", "cluster: more flags for every herald serve, space-separated")
}

// directPublishers is how many goroutines append straight into the log in
// the ramp through Redis: concurrent appends share script calls.
const directPublishers = 256

var clusterRows = []row{
	{"deliveries_per_s", "fan-out burst: deliveries per second", +1},
	{"burst_ms", "fan-out burst: publish start to last delivery, ms", -1},
	{"p50_ms", "latency phase: publish→receive p50, ms", -1},
	{"p99_ms", "latency phase: publish→receive p99, ms", -1},
	{"p999_ms", "latency phase: publish→receive p99.9, ms", -1},
	{"max_ms", "latency phase: publish→receive max (bin), ms", -1},
	{"missing", "latency phase and burst: missing deliveries", -1},
	{"publish_errors", "publishes that failed (before any kill)", -1},
	{"node_cpu_s", "latency phase: CPU of all herald processes, s", -1},
	{"redis_cpu_s", "latency phase: CPU of redis-server, s", -1},
	{"load_cpu_s", "latency phase: CPU of the load generator (raw-TCP subscribers), s (context: same 2 cores)", 0},
	{"max_rate", "ramp through HTTP (POST /events): highest publish rate with p99 within the bound, events/s", +1},
	{"max_rate_p99_ms", "ramp through HTTP: p99 at that rate, ms", -1},
	{"max_rate_batch", "ramp through HTTP in batches (each publisher POSTs its due events as one JSON array, up to 256): highest publish rate with p99 within the bound, events/s", +1},
	{"max_rate_batch_p99_ms", "ramp through HTTP in batches: p99 at that rate, ms", -1},
	{"max_rate_redis", "ramp straight into Redis (store/redis Append, 256 publishers): highest rate with p99 within the bound, events/s", +1},
	{"max_rate_redis_p99_ms", "ramp straight into Redis: p99 at that rate, ms", -1},
	{"max_rate_redis_redis_cpu_us", "ramp straight into Redis: redis-server CPU per event at that rate, µs", -1},
	{"fail_lost", "failover: acknowledged events a client never received", -1},
	{"fail_dup", "failover: events a client received twice", -1},
	{"fail_recover_ms_max", "failover: kill to the last moved client's first event over its new connection, ms", -1},
	{"fail_recover_ms_median", "failover: kill to a moved client's first event over its new connection, median, ms", -1},
	{"fail_unacked", "failover: publishes cut by the kill (retried on another node)", 0},
}

// runCluster runs herald on one Redis: a single node, then c.Cluster.Nodes
// nodes, each measured the same way, and a failover on the cluster.
func runCluster(ctx context.Context, c config, p *progress) *scenarioResult {
	cc := c.Cluster
	sr := &scenarioResult{Name: "cluster", Subscribers: cc.Subs, Results: map[string]*implResult{}, rows: clusterRows}
	single, multi := "1 node", fmt.Sprintf("%d nodes", cc.Nodes)
	sr.Impls = []string{single, multi}
	sr.Title = fmt.Sprintf("cluster: herald serve on one Redis, %d subscribers; %d events/s for %v; burst of %d; ramp from %d events/s (%v a step) to p99 > %v; failover: %d client-package subscribers a node, %d events/s, last node SIGKILLed",
		cc.Subs, cc.Rate, cc.Duration, cc.Burst, cc.RampStart, cc.RampStep, cc.RampP99, cc.FailSubs, cc.FailRate)
	sr.ratioLabel, sr.ratioOf, sr.ratioTo = multi+" ÷ 1 node", multi, single
	fail := func(err error) *scenarioResult {
		ir := &implResult{Metrics: map[string]float64{}, Error: err.Error()}
		sr.Results[single], sr.Results[multi] = ir, ir
		return sr
	}
	dir, err := os.MkdirTemp("", "bench-cluster-")
	if err != nil {
		return fail(err)
	}
	defer os.RemoveAll(dir)
	bin := cc.Herald
	if bin == "" {
		p.printf("cluster: building cmd/herald")
		if bin, err = buildHerald(ctx, dir); err != nil {
			return fail(err)
		}
	}
	redisURL, redisPid := cc.Redis, 0
	if redisURL == "" {
		var stop func()
		if redisURL, redisPid, stop, err = startRedisServer(ctx, dir); err != nil {
			return fail(err)
		}
		defer stop()
	}
	for _, n := range []int{1, cc.Nodes} {
		name := single
		if n > 1 {
			name = multi
		}
		p.printf("cluster %s: start", name)
		cl := &cluster{c: c, bin: bin, redis: redisURL, redisPid: redisPid, p: p, name: name, stream: fmt.Sprintf("bench:cluster:%d:%d", os.Getpid(), n)}
		ir := &implResult{Metrics: map[string]float64{}}
		if err := cl.run(ctx, n, ir); err != nil {
			ir.Error = err.Error()
			p.printf("cluster %s: FAILED: %s", name, err)
		} else {
			p.printf("cluster %s: done %s", name, ir.summary(clusterRows))
		}
		cl.stop()
		for _, nd := range cl.nodes {
			ir.ServerLog = append(ir.ServerLog, nd.log.Lines()...)
		}
		sr.Results[name] = ir
	}
	return sr
}

// buildHerald builds the repository's cmd/herald into dir.
func buildHerald(ctx context.Context, dir string) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-m", "-f", "{{.Dir}}", "github.com/heraldsse/herald").Output()
	if err != nil {
		return "", fmt.Errorf("find the herald module: %w", err)
	}
	bin := filepath.Join(dir, "herald")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/herald")
	cmd.Dir = strings.TrimSpace(string(out))
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/herald: %w: %s", err, b)
	}
	return bin, nil
}

// errNoRedis is returned when the scenario has no Redis to run on.
var errNoRedis = errors.New("cluster: no redis-server on PATH and no -redis URL")

// startRedisServer starts a private redis-server on a free port, with no
// persistence, in dir.
func startRedisServer(ctx context.Context, dir string) (string, int, func(), error) {
	path, err := exec.LookPath("redis-server")
	if err != nil {
		return "", 0, nil, errNoRedis
	}
	port, err := freePort()
	if err != nil {
		return "", 0, nil, err
	}
	cmd := exec.CommandContext(ctx, path, "--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	logs := &logTail{name: "redis-server", max: 20}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return "", 0, nil, err
	}
	stop := func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "redis://" + addr + "/0", cmd.Process.Pid, stop, nil
		}
		if time.Now().After(deadline) {
			stop()
			return "", 0, nil, fmt.Errorf("redis-server on %s did not answer: %s", addr, logs)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil { // polling a port
			stop()
			return "", 0, nil, err
		}
	}
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// cluster is one run: its nodes, its load processes, its publishers.
type cluster struct {
	c        config
	bin      string
	redis    string
	redisPid int // of the redis-server the scenario started; 0 for -redis
	stream   string
	name     string
	p        *progress
	nodes    []*node
	loads    []*child
	http     *http.Client
	// direct, when set, is where publish appends: the log itself, as a
	// node would, without HTTP in between.
	direct *redis.Log
	// batched, when set, makes publish send batches through HTTP.
	batched bool
}

// node is one herald serve process.
type node struct {
	cmd  *exec.Cmd
	addr string
	log  *logTail
	dead atomic.Bool
}

func (cl *cluster) logf(format string, args ...any) {
	cl.p.printf("  %s: %s", cl.name, fmt.Sprintf(format, args...))
}

func (cl *cluster) startNode(ctx context.Context) (*node, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	n := &node{addr: "127.0.0.1:" + strconv.Itoa(port), log: &logTail{name: "herald serve", max: 40}}
	args := []string{"serve", "--addr", n.addr, "--store", cl.redis, "--redis-stream", cl.stream,
		"--max-subscribers", "1000000", "--max-subscribers-per-client", "1000000",
		"--retry", cl.c.Cluster.FailRetry.String(), "--log-format", "text"}
	args = append(args, strings.Fields(cl.c.Cluster.ServeFlags)...)
	n.cmd = exec.CommandContext(ctx, cl.bin, args...)
	n.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n.cmd.Stdout, n.cmd.Stderr = n.log, n.log
	if err := n.cmd.Start(); err != nil {
		return nil, err
	}
	cl.nodes = append(cl.nodes, n)
	for deadline := time.Now().Add(cl.c.WaitTimeout); ; {
		resp, err := cl.http.Get("http://" + n.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return n, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("herald serve on %s not ready after %v: %v (log: %s)", n.addr, cl.c.WaitTimeout, err, n.log)
		}
		if err := sleep(ctx, 20*time.Millisecond); err != nil { // polling readiness
			return nil, err
		}
	}
}

// kill ends the node with SIGKILL: no shutdown, no retry hint to clients.
func (n *node) kill() {
	n.dead.Store(true)
	_ = n.cmd.Process.Kill()
	_ = n.cmd.Wait()
}

func (cl *cluster) stop() {
	var wg sync.WaitGroup
	for _, l := range cl.loads {
		wg.Go(l.stop)
	}
	wg.Wait()
	cl.loads = nil
	for _, n := range cl.nodes {
		if !n.dead.Load() {
			_ = n.cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan struct{})
			go func() { _ = n.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				_ = n.cmd.Process.Kill()
				<-done
			}
			n.dead.Store(true)
		}
	}
}

// startLoads starts enough load processes for subs subscribers.
func (cl *cluster) startLoads(ctx context.Context, subs int) error {
	for _, l := range cl.loads {
		l.stop()
	}
	cl.loads = nil
	for i := range max(1, (subs+cl.c.ConnsPerLoad-1)/cl.c.ConnsPerLoad) {
		l, err := startChild(ctx, fmt.Sprintf("cluster load %d", i), "-role", "load", "-load-index", strconv.Itoa(i), "-deadline", cl.c.Deadline.String())
		if err != nil {
			return err
		}
		cl.loads = append(cl.loads, l)
	}
	return nil
}

// broadcast sends cmd to every load process and gathers the replies.
func (cl *cluster) broadcast(cmd loadCmd) ([]loadReply, error) {
	r := &run{loads: cl.loads}
	return r.broadcast(cmd)
}

// connect opens subs raw-TCP subscribers, spread evenly over the nodes and
// the load processes, and waits until each has had a warm-up event.
func (cl *cluster) connect(ctx context.Context, subs int) error {
	if err := cl.startLoads(ctx, subs); err != nil {
		return err
	}
	k := len(cl.nodes) * len(cl.loads)
	var failed int
	var first string
	for ni, n := range cl.nodes {
		reps, err := (&run{loads: cl.loads}).all(func(li int) loadCmd {
			i := ni*len(cl.loads) + li
			return loadCmd{Op: "connect", Addr: n.addr, Target: "/events?topic=" + topicName, N: subs/k + b2i(i < subs%k)}
		})
		if err != nil {
			return err
		}
		for _, r := range reps {
			failed += r.Failed
			if first == "" {
				first = r.FirstErr
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d subscribers failed to connect, first: %s", failed, subs, first)
	}
	return cl.warmUp(ctx, subs)
}

// warmUp publishes warm-up events until every subscriber has one: each
// stream is then registered on its node, and each node follows the stream.
func (cl *cluster) warmUp(ctx context.Context, want int) error {
	deadline := time.Now().Add(cl.c.WaitTimeout)
	for i := 0; ; i++ {
		if _, err := cl.publishOne(ctx, cl.nodes[i%len(cl.nodes)], "warm"); err != nil {
			return err
		}
		for next := time.Now().Add(time.Second); time.Now().Before(next); {
			reps, err := cl.broadcast(loadCmd{Op: "status"})
			if err != nil {
				return err
			}
			warm := sum(reps, func(x loadReply) int64 { return int64(x.Warm) })
			if warm >= int64(want) {
				return nil
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("only %d of %d subscribers got a warm-up event within %v", warm, want, cl.c.WaitTimeout)
			}
			if err := sleep(ctx, 20*time.Millisecond); err != nil { // polling the load processes
				return err
			}
		}
	}
}

// publishOne publishes data on the bench topic through n and returns the
// event's ID.
func (cl *cluster) publishOne(ctx context.Context, n *node, data string) (string, error) {
	body, _ := json.Marshal(map[string]string{"topic": topicName, "data": data})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.addr+"/events", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.http.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusCreated {
		return "", fmt.Errorf("POST %s/events: %s: %s", n.addr, resp.Status, b)
	}
	var out struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(b, &out); err != nil || out.ID == "" {
		return "", fmt.Errorf("POST %s/events: reply %q: %v", n.addr, b, err)
	}
	return out.ID, nil
}

// pubResult is what a paced publish did.
type pubResult struct {
	Acked    int64  `json:"acked"`
	Failed   int64  `json:"failed"`
	Retried  int64  `json:"retried"`
	FirstErr string `json:"first_error,omitempty"`
	Elapsed  time.Duration
}

// publish sends n events, rate per second (0: as fast as the publishers
// go), round-robin over the live nodes, from Publishers workers per node.
// Each event's data is its scheduled send time in Unix nanoseconds, then
// its sequence number, padded to Size. With retry, an event whose node
// fails goes to the next live node, and that node is not used again.
// onAck, if given, hears each acknowledged event.
func (cl *cluster) publish(ctx context.Context, n, rate int, retry bool, onAck func(seq int, id string)) pubResult {
	workers := min(n, cl.c.Cluster.Publishers*len(cl.nodes))
	if cl.direct != nil {
		workers = min(n, directPublishers)
	}
	var (
		res   pubResult
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = time.Now()
	)
	record := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if res.FirstErr == "" {
			res.FirstErr = err.Error()
		}
	}
	for w := range max(workers, 1) {
		wg.Go(func() {
			buf := make([]byte, 0, max(cl.c.Size, 48))
			for i := w; i < n && ctx.Err() == nil; i += workers {
				at := time.Now()
				if rate > 0 {
					at = start.Add(time.Duration(i) * time.Second / time.Duration(rate))
					if d := time.Until(at); d > 0 {
						time.Sleep(d) // pacing, not waiting for a condition
					}
				}
				buf = strconv.AppendInt(buf[:0], at.UnixNano(), 10)
				buf = append(buf, ' ')
				buf = strconv.AppendInt(buf, int64(i), 10)
				buf = append(buf, ' ')
				for len(buf) < cl.c.Size {
					buf = append(buf, 'x')
				}
				data := string(buf)
				if cl.direct != nil {
					e, err := cl.direct.Append(ctx, store.Entry{Topic: topicName, Event: sse.Event{Data: data}})
					if err != nil {
						atomic.AddInt64(&res.Failed, 1)
						record(err)
					} else {
						atomic.AddInt64(&res.Acked, 1)
						if onAck != nil {
							onAck(i, e.ID.String())
						}
					}
					continue
				}
				for try := 0; ; try++ {
					nd := cl.live(i + try)
					if nd == nil {
						atomic.AddInt64(&res.Failed, 1)
						record(errors.New("no live node"))
						break
					}
					id, err := cl.publishOne(ctx, nd, data)
					if err == nil {
						atomic.AddInt64(&res.Acked, 1)
						if onAck != nil {
							onAck(i, id)
						}
						break
					}
					if !retry || ctx.Err() != nil {
						atomic.AddInt64(&res.Failed, 1)
						record(err)
						break
					}
					// A load balancer takes the node out: so do we.
					nd.dead.Store(true)
					atomic.AddInt64(&res.Retried, 1)
				}
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// maxBatch is the most events herald takes in one POST /events.
const maxBatch = 256

// publishBatched is publish through HTTP in batches, as a publisher that
// buffers does: each of Publishers workers per node sends, in one POST of
// a JSON array, every one of its events whose time has come (at most
// maxBatch), round-robin over the nodes. An event's data is as publish
// writes it, with its scheduled time, so the wait in the buffer counts in
// its latency.
func (cl *cluster) publishBatched(ctx context.Context, n, rate int) pubResult {
	workers := max(min(n, cl.c.Cluster.Publishers*len(cl.nodes)), 1)
	var (
		res   pubResult
		mu    sync.Mutex
		wg    sync.WaitGroup
		start = time.Now()
	)
	at := func(i int) time.Time {
		if rate <= 0 {
			return start
		}
		return start.Add(time.Duration(i) * time.Second / time.Duration(rate))
	}
	for w := range workers {
		wg.Go(func() {
			var body, buf []byte
			for i, sent := w, 0; i < n && ctx.Err() == nil; sent++ {
				if d := time.Until(at(i)); d > 0 {
					time.Sleep(d) // pacing, not waiting for a condition
				}
				body = append(body[:0], '[')
				count, now := 0, time.Now()
				for ; i < n && count < maxBatch && !at(i).After(now); i += workers {
					buf = strconv.AppendInt(buf[:0], at(i).UnixNano(), 10)
					buf = append(buf, ' ')
					buf = strconv.AppendInt(buf, int64(i), 10)
					buf = append(buf, ' ')
					for len(buf) < cl.c.Size {
						buf = append(buf, 'x')
					}
					if count > 0 {
						body = append(body, ',')
					}
					body = append(body, `{"topic":"`+topicName+`","data":"`...)
					body = append(body, buf...)
					body = append(body, `"}`...)
					count++
				}
				body = append(body, ']')
				nd := cl.live(w + sent)
				err := errors.New("no live node")
				if nd != nil {
					err = cl.postBatch(ctx, nd, body, count)
				}
				if err != nil {
					atomic.AddInt64(&res.Failed, int64(count))
					mu.Lock()
					if res.FirstErr == "" {
						res.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				atomic.AddInt64(&res.Acked, int64(count))
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// postBatch posts body, a JSON array of count events, to n's /events.
func (cl *cluster) postBatch(ctx context.Context, n *node, body []byte, count int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+n.addr+"/events", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusCreated {
		return fmt.Errorf("POST %s/events (a batch of %d): %s: %.200s", n.addr, count, resp.Status, b)
	}
	var out struct {
		IDs []string `json:"ids"`
	}
	if err := json.Unmarshal(b, &out); err != nil || len(out.IDs) != count {
		return fmt.Errorf("POST %s/events (a batch of %d): reply %.200q: %v", n.addr, count, b, err)
	}
	return nil
}

// live returns the i-th live node, round-robin, or nil if none is.
func (cl *cluster) live(i int) *node {
	var up []*node
	for _, n := range cl.nodes {
		if !n.dead.Load() {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return nil
	}
	return up[i%len(up)]
}

// redisCPU is the CPU time of the redis-server the scenario started (10 ms
// ticks), or 0.
func (cl *cluster) redisCPU() time.Duration {
	if cl.redisPid == 0 {
		return 0
	}
	d, _ := procCPU(cl.redisPid)
	return d
}

func (cl *cluster) nodeCPU() time.Duration {
	var t time.Duration
	for _, n := range cl.nodes {
		if d, err := procCPU(n.cmd.Process.Pid); err == nil {
			t += d
		}
	}
	return t
}

// run measures n nodes: the fan-out burst and the latency phase with
// Subs subscribers, then the ramp, then (with more than one node) the
// failover.
func (cl *cluster) run(ctx context.Context, n int, ir *implResult) error {
	cc := cl.c.Cluster
	cl.http = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: cc.Publishers + 4, MaxIdleConns: 1 << 12}}
	for range n {
		if _, err := cl.startNode(ctx); err != nil {
			return err
		}
	}
	m := ir.Metrics
	r := &run{c: cl.c, p: cl.p, impl: cl.name}

	cl.logf("connecting %d subscribers to %d node(s)", cc.Subs, n)
	if err := cl.connect(ctx, cc.Subs); err != nil {
		return err
	}
	r.loads = cl.loads

	// Fan-out burst: as fast as the publishers go, through every node.
	if err := r.expect(int64(cc.Burst), false); err != nil {
		return err
	}
	t0 := time.Now()
	pub := cl.publish(ctx, cc.Burst, 0, false, nil)
	w, err := r.wait()
	if err != nil {
		return err
	}
	end := time.Now()
	if w.Done {
		end = time.Unix(0, w.DoneAtNS)
	}
	m["deliveries_per_s"] = float64(w.Events) / end.Sub(t0).Seconds()
	m["burst_ms"] = float64(end.Sub(t0).Microseconds()) / 1000
	m["burst_publish_ms"] = float64(pub.Elapsed.Microseconds()) / 1000
	missing, pubErrs := w.Missing, pub.Failed
	cl.logf("burst: %d deliveries in %.1f ms, missing %d", w.Events, m["burst_ms"], w.Missing)

	// Latency phase: Rate events/s, round-robin over the nodes.
	total := int(float64(cc.Rate) * cc.Duration.Seconds())
	if err := r.expect(int64(cc.Burst+total), true); err != nil {
		return err
	}
	cpu0, load0, redis0 := cl.nodeCPU(), r.loadCPU(), cl.redisCPU()
	pub = cl.publish(ctx, total, cc.Rate, false, nil)
	if w, err = r.wait(); err != nil {
		return err
	}
	m["node_cpu_s"] = (cl.nodeCPU() - cpu0).Seconds()
	m["load_cpu_s"] = (r.loadCPU() - load0).Seconds()
	m["redis_cpu_s"] = (cl.redisCPU() - redis0).Seconds()
	h, err := r.hist()
	if err != nil {
		return err
	}
	q, samples := quantiles(h, 0.5, 0.99, 0.999, 1)
	m["p50_ms"], m["p99_ms"], m["p999_ms"], m["max_ms"] = q[0]/1000, q[1]/1000, q[2]/1000, q[3]/1000
	m["samples"] = float64(samples)
	m["latency_publish_s"] = pub.Elapsed.Seconds()
	missing += w.Missing
	pubErrs += pub.Failed
	m["missing"] = float64(missing)
	m["publish_errors"] = float64(pubErrs)
	if pub.FirstErr != "" {
		ir.Notes = append(ir.Notes, "publish error: "+pub.FirstErr)
	}
	cl.logf("latency: p50 %.2f ms, p99 %.2f ms, missing %d", m["p50_ms"], m["p99_ms"], w.Missing)

	if err := cl.ramp(ctx, r, ir, ""); err != nil {
		return err
	}
	cl.batched = true
	err = cl.ramp(ctx, r, ir, "_batch")
	cl.batched = false
	if err != nil {
		return err
	}
	log, err := redis.New(ctx, redis.Options{URL: cl.redis, Stream: cl.stream})
	if err != nil {
		return err
	}
	cl.direct = log
	err = cl.ramp(ctx, r, ir, "_redis")
	cl.direct = nil
	log.Close()
	if err != nil {
		return err
	}
	if n > 1 {
		return cl.failover(ctx, ir)
	}
	return nil
}

// rampStep is one rate of the ramp.
type rampStep struct {
	Rate     int     `json:"rate"`
	Achieved float64 `json:"achieved_per_s"`
	P50MS    float64 `json:"p50_ms"`
	P99MS    float64 `json:"p99_ms"`
	// CPU per event published, µs: of redis-server (when the scenario
	// started it) and of all the herald processes (following, dispatching,
	// and for the ramp through HTTP, publishing).
	RedisCPUUS float64 `json:"redis_cpu_us_per_event"`
	NodeCPUUS  float64 `json:"nodes_cpu_us_per_event"`
	Missing    int64   `json:"missing"`
	Failed     int64   `json:"failed"`
	FirstError string  `json:"first_error,omitempty"`
}

// ramp doubles the publish rate from RampStart until p99 passes RampP99,
// publishes fail or deliveries go missing, with RampSubs subscribers per
// node: it measures the log every node appends to and follows.
//
// The metrics' keys end with suffix: the ramp publishes through the nodes'
// HTTP API, or, with cl.direct, straight into the log.
func (cl *cluster) ramp(ctx context.Context, r *run, ir *implResult, suffix string) error {
	cc := cl.c.Cluster
	subs := cc.RampSubs * len(cl.nodes)
	if err := cl.connect(ctx, subs); err != nil {
		return err
	}
	r.loads = cl.loads
	var steps []rampStep
	var sent int64
	for rate := cc.RampStart; rate <= cc.RampMax && ctx.Err() == nil; rate *= 2 {
		n := int(float64(rate) * cc.RampStep.Seconds())
		sent += int64(n)
		if err := r.expect(sent, true); err != nil {
			return err
		}
		redis0, nodes0 := cl.redisCPU(), cl.nodeCPU()
		var pub pubResult
		if cl.batched {
			pub = cl.publishBatched(ctx, n, rate)
		} else {
			pub = cl.publish(ctx, n, rate, false, nil)
		}
		w, err := r.wait()
		if err != nil {
			return err
		}
		redisCPU, nodesCPU := cl.redisCPU()-redis0, cl.nodeCPU()-nodes0
		h, err := r.hist()
		if err != nil {
			return err
		}
		q, _ := quantiles(h, 0.5, 0.99)
		st := rampStep{Rate: rate, Achieved: float64(pub.Acked) / pub.Elapsed.Seconds(), P50MS: q[0] / 1000, P99MS: q[1] / 1000,
			Missing: w.Missing - pub.Failed*int64(subs), Failed: pub.Failed, FirstError: pub.FirstErr,
			RedisCPUUS: float64(redisCPU.Microseconds()) / float64(max(pub.Acked, 1)), NodeCPUUS: float64(nodesCPU.Microseconds()) / float64(max(pub.Acked, 1))}
		steps = append(steps, st)
		cl.logf("ramp%s %d events/s: achieved %.0f/s, p50 %.1f ms, p99 %.1f ms, failed %d, missing %d; CPU per event: redis %.1f µs, herald %.1f µs",
			suffix, rate, st.Achieved, st.P50MS, st.P99MS, st.Failed, st.Missing, st.RedisCPUUS, st.NodeCPUUS)
		if st.P99MS > float64(cc.RampP99.Milliseconds()) || st.Failed > 0 || st.Missing != 0 {
			break
		}
		ir.Metrics["max_rate"+suffix], ir.Metrics["max_rate"+suffix+"_p99_ms"] = st.Achieved, st.P99MS
		if cl.redisPid != 0 {
			ir.Metrics["max_rate"+suffix+"_redis_cpu_us"] = st.RedisCPUUS
		}
		if !w.Done {
			break
		}
	}
	if ir.Detail == nil {
		ir.Detail = map[string]any{}
	}
	ir.Detail.(map[string]any)["ramp"+suffix] = steps
	return nil
}

// failSub is one client-package subscriber of the failover phase.
type failSub struct {
	node     int
	mu       sync.Mutex
	ids      map[string]int // event ID -> times received
	redialed atomic.Bool    // its transport dialled after the kill
	after    time.Time      // first event received after that
	warm     bool
	notices  int
}

// failover subscribes FailSubs clients of herald's client package to each
// node, each dialling its own node first and another when that one is
// down (as a load balancer would), publishes FailRate events/s round-robin
// over the live nodes, SIGKILLs the last node after FailBefore, goes on for
// FailAfter, and checks that every client got every acknowledged event
// exactly once.
func (cl *cluster) failover(ctx context.Context, ir *implResult) error {
	cc := cl.c.Cluster
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var subs []*failSub
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	var killedAt atomic.Int64
	for ni := range cl.nodes {
		order := append([]*node{cl.nodes[ni]}, slices.Delete(slices.Clone(cl.nodes), ni, ni+1)...)
		for range cc.FailSubs {
			s := &failSub{node: ni, ids: map[string]int{}}
			subs = append(subs, s)
			// Each client has a transport of its own, which dials its own
			// node first and the others when it is down, as a load
			// balancer would, and notes when it dials after the kill.
			tr := &http.Transport{
				DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
					if killedAt.Load() != 0 {
						s.redialed.CompareAndSwap(false, true)
					}
					var err error
					for _, n := range order {
						var d net.Dialer
						var c net.Conn
						if c, err = d.DialContext(ctx, network, n.addr); err == nil {
							return c, nil
						}
					}
					return nil, err
				},
			}
			defer tr.CloseIdleConnections()
			conn, err := heraldclient.New("http://"+cl.nodes[ni].addr+"/events?topic="+topicName, heraldclient.Options{HTTPClient: &http.Client{Transport: tr}})
			if err != nil {
				return err
			}
			wg.Go(func() {
				for ev, err := range conn.Events(ctx) {
					if err != nil {
						return
					}
					s.mu.Lock()
					switch {
					case strings.HasPrefix(ev.Type, "herald:"):
						// herald's own notices (herald:replayed after a
						// resume) carry the last event ID, not one of theirs.
						s.notices++
					case strings.HasPrefix(ev.Data, "warm"):
						s.warm = true
					default:
						s.ids[ev.ID]++
						if s.after.IsZero() && s.redialed.Load() {
							s.after = time.Now()
						}
					}
					s.mu.Unlock()
				}
			})
		}
	}
	// Every client has a stream once each has had a warm-up event.
	deadline := time.Now().Add(cl.c.WaitTimeout)
	for i := 0; ; i++ {
		if _, err := cl.publishOne(ctx, cl.nodes[i%len(cl.nodes)], "warm"); err != nil {
			return err
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil { // polling the clients
			return err
		}
		warm := 0
		for _, s := range subs {
			s.mu.Lock()
			warm += b2i(s.warm)
			s.mu.Unlock()
		}
		if warm == len(subs) {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("failover: only %d of %d clients got a warm-up event within %v", warm, len(subs), cl.c.WaitTimeout)
		}
	}
	var ackMu sync.Mutex
	acked := map[string]bool{}
	total := int(float64(cc.FailRate) * (cc.FailBefore + cc.FailAfter).Seconds())
	victim := cl.nodes[len(cl.nodes)-1]
	var killer sync.WaitGroup
	killer.Go(func() {
		if sleep(ctx, cc.FailBefore) == nil { // the run's schedule
			killedAt.Store(time.Now().UnixNano())
			victim.kill()
			cl.logf("failover: SIGKILLed %s", victim.addr)
		}
	})
	pub := cl.publish(ctx, total, cc.FailRate, true, func(_ int, id string) {
		ackMu.Lock()
		acked[id] = true
		ackMu.Unlock()
	})
	killer.Wait()
	// Wait for every client to have every acknowledged event.
	complete := func() (lost, dup int64) {
		for _, s := range subs {
			s.mu.Lock()
			for id := range acked {
				if s.ids[id] == 0 {
					lost++
				}
			}
			for _, n := range s.ids {
				if n > 1 {
					dup += int64(n - 1)
				}
			}
			s.mu.Unlock()
		}
		return lost, dup
	}
	var lost, dup int64
	for deadline := time.Now().Add(cl.c.WaitTimeout); ; {
		lost, dup = complete()
		if lost == 0 || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil { // polling the clients
			return err
		}
	}
	k := time.Unix(0, killedAt.Load())
	var rec []float64
	moved := 0
	for _, s := range subs {
		if s.node != len(cl.nodes)-1 {
			continue
		}
		moved++
		s.mu.Lock()
		if !s.after.IsZero() {
			rec = append(rec, float64(s.after.Sub(k).Microseconds())/1000)
		}
		s.mu.Unlock()
	}
	slices.Sort(rec)
	m := ir.Metrics
	m["fail_lost"], m["fail_dup"] = float64(lost), float64(dup)
	m["fail_unacked"] = float64(pub.Retried)
	m["fail_acked"] = float64(pub.Acked)
	m["fail_moved"] = float64(moved)
	if len(rec) > 0 {
		m["fail_recover_ms_max"], m["fail_recover_ms_median"] = rec[len(rec)-1], rec[len(rec)/2]
	}
	if len(rec) < moved {
		ir.Notes = append(ir.Notes, fmt.Sprintf("failover: %d of %d clients of the killed node got no event after the kill", moved-len(rec), moved))
	}
	if pub.Failed > 0 {
		ir.Notes = append(ir.Notes, fmt.Sprintf("failover: %d publishes failed on every node, first: %s", pub.Failed, pub.FirstErr))
	}
	ir.Notes = append(ir.Notes, fmt.Sprintf("failover: %d acknowledged events to %d clients (%d moved off the killed node), nodes' --retry %v", pub.Acked, len(subs), moved, cc.FailRetry))
	cl.logf("failover: lost %d, duplicated %d, recovery max %.0f ms", lost, dup, m["fail_recover_ms_max"])
	return nil
}
