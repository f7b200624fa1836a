package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/presence"
	presenceredis "github.com/heraldsse/herald/presence/redis"
	"github.com/heraldsse/herald/server"
)

// The presence scenario: what herald's presence (docs/presence.md) costs
// per idle subscriber. It is herald against itself, not against the peers,
// which have no presence: the same server with presence off, in memory
// (herald serve with a memory or bolt store), and in Redis (a redis://
// store). It runs on its own (-scenario presence), outside "all", since it
// needs a redis-server.
//
// The implementations, as the server role's -impl names them:
const (
	implPresenceMemory = "herald+presence"        // presence.Memory
	implPresenceRedis  = "herald+presence-redis=" // presence/redis on the address that follows
)

// presenceConfig is what the presence scenario's flags set.
type presenceConfig struct {
	subs  int
	redis string
}

// presenceFlags defines the presence scenario's flags on fs.
func presenceFlags(fs *flag.FlagSet) *presenceConfig {
	pc := &presenceConfig{}
	fs.IntVar(&pc.subs, "presence-subs", 10000, "presence: idle subscribers")
	fs.StringVar(&pc.redis, "presence-redis", "", "presence: host:port of a Redis for the Redis registry, which the scenario may flush; empty starts a private redis-server (on PATH) on a free port")
	return pc
}

// newPresenceImpl builds the server role's herald with presence, or fails
// for a name that is not one of the presence implementations.
func newPresenceImpl(name string) (impl, error) {
	var reg presence.Registry
	var err error
	switch {
	case name == implPresenceMemory:
		reg, err = presence.NewMemory(presence.MemoryOptions{})
	case strings.HasPrefix(name, implPresenceRedis):
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		reg, err = presenceredis.New(ctx, presenceredis.Options{Addr: strings.TrimPrefix(name, implPresenceRedis)})
		cancel()
	default:
		return nil, fmt.Errorf("unknown implementation %q", name)
	}
	if err != nil {
		return nil, err
	}
	h, err := newHeraldWith(hub.Options{Presence: reg, PresenceEvents: server.PresenceEvents})
	if err != nil {
		reg.Close(context.Background())
		return nil, err
	}
	return &presenceImpl{heraldImpl: h, reg: reg}, nil
}

// presenceImpl is herald with a presence registry, closed after the hub.
type presenceImpl struct {
	*heraldImpl
	reg presence.Registry
}

func (x *presenceImpl) close() {
	x.heraldImpl.close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = x.reg.Close(ctx)
}

// presenceRows are the presence table's rows.
var presenceRows = []row{
	{"rss_kib_per_sub", "server RSS per subscriber, KiB", -1},
	{"heapstack_kib_per_sub", "server Go heap+stack in use per subscriber, KiB", -1},
	{"redis_bytes_per_sub", "Redis used_memory per subscriber, bytes", -1},
	{"redis_cmds_per_s", "Redis commands per second, idle (INFO commandstats)", -1},
}

// runPresenceScenario runs the presence scenario for herald without
// presence, with the memory registry and with the Redis registry, and
// prints its table.
func runPresenceScenario(ctx context.Context, c config, pc *presenceConfig, stdout, stderr io.Writer) error {
	sr, err := presenceScenario(ctx, c, pc, &progress{w: stderr, start: time.Now()})
	if sr != nil {
		fmt.Fprintln(stdout, presenceMarkdown(sr))
	}
	return err
}

// presenceScenario runs the presence scenario and returns its results.
func presenceScenario(ctx context.Context, c config, pc *presenceConfig, p *progress) (*scenarioResult, error) {
	addr := pc.redis
	if addr == "" {
		dir, err := os.MkdirTemp("", "bench-redis-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(dir)
		url, _, stop, err := startRedisServer(ctx, dir) // cluster.go's
		if err != nil {
			return nil, err
		}
		defer stop()
		addr = strings.TrimSuffix(strings.TrimPrefix(url, "redis://"), "/0")
		p.printf("presence: started redis-server on %s", addr)
	}
	impls := []string{"herald", implPresenceMemory, implPresenceRedis + addr}
	sr := &scenarioResult{Name: "presence", Subscribers: pc.subs, Impls: impls, Results: map[string]*implResult{}, rows: presenceRows}
	sr.Title = fmt.Sprintf("presence: %d idle subscribers, presence off, in memory and in Redis (after runtime.GC() and %v; Redis commands over %v after the idle scenario's window)", pc.subs, c.Settle, c.IdleWindow)
	var errs []error
	for _, name := range impls {
		p.printf("presence %s: start", name)
		ir := &implResult{Metrics: map[string]float64{}}
		if err := presenceRun(ctx, c, pc, name, addr, ir, p); err != nil {
			ir.Error = err.Error()
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			p.printf("presence %s: FAILED: %v", name, err)
		} else {
			p.printf("presence %s: done %s", name, ir.summary(presenceRows))
		}
		sr.Results[name] = ir
	}
	return sr, errors.Join(errs...)
}

// presenceMarkdown renders the scenario as a table: a column per
// implementation, then what presence adds over herald without it.
func presenceMarkdown(sr *scenarioResult) string {
	var b strings.Builder
	off, mem, red := sr.Results[sr.Impls[0]], sr.Results[sr.Impls[1]], sr.Results[sr.Impls[2]]
	fmt.Fprintf(&b, "### %s\n\n| metric | presence off | memory registry | Redis registry | memory − off | Redis − off |\n|---|---:|---:|---:|---:|---:|\n", sr.Title)
	cell := func(ir *implResult, key string) string {
		if v, ok := ir.Metrics[key]; ok && ir.Error == "" {
			return num(v)
		}
		return "—"
	}
	diff := func(ir *implResult, key string) string {
		v, ok1 := ir.Metrics[key]
		o, ok2 := off.Metrics[key]
		if !ok1 || !ok2 || ir.Error != "" || off.Error != "" {
			return "—"
		}
		return num(v - o)
	}
	for _, r := range sr.rows {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s |\n", r.Label, cell(off, r.Key), cell(mem, r.Key), cell(red, r.Key), diff(mem, r.Key), diff(red, r.Key))
	}
	for _, name := range sr.Impls {
		if ir := sr.Results[name]; ir.Error != "" {
			fmt.Fprintf(&b, "\n%s failed: %s\n", name, ir.Error)
		}
	}
	return b.String()
}

// presenceRun measures one implementation: the idle scenario's memory
// readings (runIdle), Redis's used_memory before the subscribers connect and
// after, then Redis's commands over another idle window.
func presenceRun(ctx context.Context, c config, pc *presenceConfig, name, redisAddr string, ir *implResult, p *progress) error {
	rc, err := dialRedis(redisAddr)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := rc.do("FLUSHALL"); err != nil {
		return err
	}
	r, err := startRun(ctx, c, name, pc.subs, "", p)
	if err != nil {
		return err
	}
	defer r.stop()
	baseMem, err := rc.infoInt("memory", "used_memory")
	if err != nil {
		return err
	}
	if err := runIdle(ctx, r, ir); err != nil {
		return err
	}
	mem, err := rc.infoInt("memory", "used_memory")
	if err != nil {
		return err
	}
	calls0, err := rc.commandCalls()
	if err != nil {
		return err
	}
	start := time.Now()
	if err := sleep(ctx, c.IdleWindow); err != nil {
		return err
	}
	calls1, err := rc.commandCalls()
	if err != nil {
		return err
	}
	window := time.Since(start).Seconds()
	m := ir.Metrics
	m["redis_bytes_per_sub"] = float64(mem-baseMem) / float64(pc.subs)
	m["redis_cmds_per_s"] = float64(calls1-calls0) / window
	m["redis_used_memory"] = float64(mem)
	m["redis_window_s"] = window
	return nil
}

// redisConn is a minimal RESP client: enough for INFO and FLUSHALL.
type redisConn struct {
	net.Conn
	r *bufio.Reader
}

func dialRedis(addr string) (*redisConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", addr, err)
	}
	return &redisConn{Conn: c, r: bufio.NewReader(c)}, nil
}

// do sends a command and returns its reply: a simple or bulk string.
func (c *redisConn) do(args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, b.String()); err != nil {
		return "", err
	}
	line, err := c.r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	switch {
	case strings.HasPrefix(line, "+"):
		return line[1:], nil
	case strings.HasPrefix(line, "$"):
		n, err := strconv.Atoi(line[1:])
		if err != nil || n < 0 {
			return "", fmt.Errorf("redis %s: bad reply %q", args[0], line)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis %s: %s", args[0], line)
}

// infoInt reads one integer field of an INFO section.
func (c *redisConn) infoInt(section, field string) (int64, error) {
	info, err := c.do("INFO", section)
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), field+":"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("redis INFO %s: no %s", section, field)
}

// commandCalls sums the calls of every command in INFO commandstats but
// INFO itself (this harness's own).
func (c *redisConn) commandCalls() (int64, error) {
	info, err := c.do("INFO", "commandstats")
	if err != nil {
		return 0, err
	}
	var total int64
	for line := range strings.SplitSeq(info, "\n") {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || !strings.HasPrefix(name, "cmdstat_") || name == "cmdstat_info" {
			continue
		}
		calls, _, _ := strings.Cut(strings.TrimPrefix(rest, "calls="), ",")
		n, err := strconv.ParseInt(calls, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("redis commandstats %q: %w", line, err)
		}
		total += n
	}
	return total, nil
}
