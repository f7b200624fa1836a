package redis_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/presence/presencetest"
	"github.com/heraldsse/herald/presence/redis"
	"github.com/heraldsse/herald/store"
)

// wait bounds each wait of these tests; it turns a hang into a failure.
const wait = 20 * time.Second

// TestMain fails the run when a registry's goroutine outlives the tests:
// every registry is closed by its test, and Close must stop them all.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && os.Getenv(helperEnv) == "" {
		if stacks := leaked(5 * time.Second); stacks != "" {
			fmt.Fprintf(os.Stderr, "goroutines of presence/redis still running after every registry was closed:\n%s\n", stacks)
			code = 1
		}
	}
	os.Exit(code)
}

// leaked waits up to d for no goroutine to run code of package
// presence/redis, and returns the stacks of those that still do.
func leaked(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var found []string
		for g := range strings.SplitSeq(string(buf), "\n\n") {
			if strings.Contains(g, "herald/presence/redis.(*Registry)") {
				found = append(found, g)
			}
		}
		if len(found) == 0 || time.Now().After(deadline) {
			return strings.Join(found, "\n\n")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var prefixes atomic.Int64

// prefix returns a key prefix used by no other test of this process.
func prefix(t testing.TB) string {
	name := strings.NewReplacer("/", ":", " ", "_", "{", "(", "}", ")").Replace(t.Name())
	return fmt.Sprintf("herald:test:%s:%d:%d", name, os.Getpid(), prefixes.Add(1))
}

// fast are intervals short enough for tests that wait for expiry: a dead
// node is reaped within TTL + CheckInterval = 1s.
func fast(o redis.Options) redis.Options {
	o.TTL, o.Heartbeat, o.CheckInterval = 750*time.Millisecond, 150*time.Millisecond, 250*time.Millisecond
	return o
}

// open returns a registry on addr with opts (Prefix required), closed when
// t ends.
func open(t testing.TB, addr string, opts redis.Options) *redis.Registry {
	t.Helper()
	opts.Addr = addr
	r, err := redis.New(t.Context(), opts)
	if err != nil {
		t.Fatalf("redis.New(%+v): %v", opts, err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// client returns a plain client for looking at Redis directly.
func client(t testing.TB, addr string) *goredis.Client {
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor polls cond every 10ms until it holds, failing t after wait.
// Used only where no event tells that another node's state changed.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", wait, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func mustSync(t testing.TB, r *redis.Registry) {
	t.Helper()
	if err := r.Sync(t.Context()); err != nil {
		t.Fatalf("Sync: %v", err)
	}
}

func count(t testing.TB, r presence.Registry) presence.Counts {
	t.Helper()
	c, err := r.Count(t.Context())
	if err != nil {
		t.Fatalf("Count: %v", err)
	}
	return c
}

// changes collects what a registry's watcher reports.
type changes struct {
	mu    sync.Mutex
	by    map[string][]string // subscriber ID → nodes that reported it
	subs  map[string]presence.Subscription
	total int
}

func watch(t testing.TB, c *changes, r presence.Registry, active bool) {
	stop := r.Watch(func(ch presence.Change) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if ch.Active != active {
			t.Errorf("node %s reported %+v, want Active %v", r.Node(), ch, active)
		}
		if c.by == nil {
			c.by, c.subs = make(map[string][]string), make(map[string]presence.Subscription)
		}
		c.by[ch.Subscription.ID] = append(c.by[ch.Subscription.ID], r.Node())
		c.subs[ch.Subscription.ID] = ch.Subscription
		c.total++
	})
	t.Cleanup(stop)
}

func (c *changes) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

func TestConformance(t *testing.T) {
	addr := testenv.StartRedis(t)
	presencetest.Run(t, func(t *testing.T) presence.Registry {
		return open(t, addr, redis.Options{Prefix: prefix(t), PageSize: 100})
	})
}

func TestSubscriptionOnOneNodeIsListedByAnother(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	a := open(t, addr, redis.Options{Prefix: p, Node: "node-a"})
	b := open(t, addr, redis.Options{Prefix: p, Node: "node-b"})
	want := presencetest.MustJoin(t, a, presencetest.Sub("chat/lobby"))
	if want.Node != "node-a" {
		t.Errorf("record's Node = %q, want node-a", want.Node)
	}
	// No Sync: A writes on its own within its flush interval.
	var got presence.Subscription
	waitFor(t, "node B to find node A's subscription", func() bool {
		var err error
		got, err = b.Get(t.Context(), want.ID)
		if err != nil && !errors.Is(err, presence.ErrNotFound) {
			t.Fatalf("B.Get: %v", err)
		}
		return err == nil
	})
	if d := presencetest.Equal(got, want); d != "" {
		t.Errorf("B.Get: %s", d)
	}
	_, subs := presencetest.Collect(t, b)
	if d := presencetest.Equal(subs[want.ID], want); d != "" {
		t.Errorf("B.List: %s", d)
	}
}

func TestCountsPerNodeAndCluster(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	nodes := []*redis.Registry{
		open(t, addr, redis.Options{Prefix: p}),
		open(t, addr, redis.Options{Prefix: p}),
		open(t, addr, redis.Options{Prefix: p}),
	}
	joins := []int{3, 2, 0}
	for i, r := range nodes {
		for range joins[i] {
			presencetest.MustJoin(t, r, presencetest.Sub())
		}
		mustSync(t, r)
	}
	for i, r := range nodes {
		if got, want := count(t, r), (presence.Counts{Node: joins[i], Cluster: 5}); got != want {
			t.Errorf("node %d: Count = %+v, want %+v", i, got, want)
		}
	}
	seen, _ := presencetest.Collect(t, nodes[2])
	if len(seen) != 5 {
		t.Errorf("the node without subscriptions lists %d, want the cluster's 5", len(seen))
	}
}

func TestLeaveRemovesEverywhere(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	a := open(t, addr, redis.Options{Prefix: p})
	b := open(t, addr, redis.Options{Prefix: p})
	stay, leave := presencetest.MustJoin(t, a, presencetest.Sub()), presencetest.MustJoin(t, a, presencetest.Sub())
	mustSync(t, a)
	if _, err := b.Get(t.Context(), leave.ID); err != nil {
		t.Fatalf("B.Get before the leave: %v", err)
	}
	if err := a.Leave(leave.ID); err != nil {
		t.Fatal(err)
	}
	mustSync(t, a)
	for _, r := range []*redis.Registry{a, b} {
		if _, err := r.Get(t.Context(), leave.ID); !errors.Is(err, presence.ErrNotFound) {
			t.Errorf("%s.Get after the leave = %v, want ErrNotFound", r.Node(), err)
		}
		seen, _ := presencetest.Collect(t, r)
		if len(seen) != 1 || seen[stay.ID] != 1 {
			t.Errorf("%s lists %v after the leave, want only %q", r.Node(), seen, stay.ID)
		}
		if c := count(t, r); c.Cluster != 1 {
			t.Errorf("%s: Count = %+v, want 1 in the cluster", r.Node(), c)
		}
	}
}

func TestCloseSaysGoodbye(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	rc := client(t, addr)
	// Long intervals: nothing here may depend on expiry.
	slow := redis.Options{Prefix: p, TTL: time.Hour, CheckInterval: time.Hour}
	a := open(t, addr, withNode(slow, "leaving"))
	b := open(t, addr, withNode(slow, "staying"))
	var reaped changes
	watch(t, &reaped, b, false)
	for range 100 {
		presencetest.MustJoin(t, a, presencetest.Sub())
	}
	mine := presencetest.MustJoin(t, b, presencetest.Sub())
	mustSync(t, a)
	if c := count(t, b); c.Cluster != 101 {
		t.Fatalf("before goodbye: B.Count = %+v, want 101 in the cluster", c)
	}
	if err := a.Close(t.Context()); err != nil {
		t.Fatalf("A.Close: %v", err)
	}
	// At once: no expiry to wait for.
	if c := count(t, b); c != (presence.Counts{Node: 1, Cluster: 1}) {
		t.Errorf("right after A's goodbye: B.Count = %+v, want only B's one", c)
	}
	seen, _ := presencetest.Collect(t, b)
	if len(seen) != 1 || seen[mine.ID] != 1 {
		t.Errorf("right after A's goodbye, B lists %v; want only its own %q", seen, mine.ID)
	}
	keys := []string{"{" + p + "}:alive:leaving", "{" + p + "}:subs:leaving"}
	if n := rc.Exists(t.Context(), keys...).Val(); n != 0 {
		t.Errorf("after goodbye %d of %v remain", n, keys)
	}
	if rc.SIsMember(t.Context(), "{"+p+"}:nodes", "leaving").Val() {
		t.Error("after goodbye the node is still in the set")
	}
	if reaped.count() != 0 {
		t.Errorf("B reported %d changes for a node that said goodbye, want none", reaped.count())
	}
}

func withNode(o redis.Options, node string) redis.Options {
	o.Node = node
	return o
}

// helperEnv carries the options of a node run by TestHelperNode in a child
// process: addr, prefix, node, subscriptions, as space-separated fields.
const helperEnv = "HERALD_PRESENCE_HELPER"

// TestHelperNode is not a test: TestKilledNodeIsReaped runs the test binary
// again with only this function and helperEnv set. It registers
// subscriptions on one node, prints "ready", and runs until killed (or
// until its stdin closes, should the parent die first).
func TestHelperNode(t *testing.T) {
	env := os.Getenv(helperEnv)
	if env == "" {
		t.Skip("helper process for TestKilledNodeIsReaped")
	}
	f := strings.Fields(env)
	n, _ := strconv.Atoi(f[3])
	r, err := redis.New(context.Background(), fast(redis.Options{Addr: f[0], Prefix: f[1], Node: f[2], PageSize: 500}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for i := range n {
		if _, err := r.Join(presencetest.Sub("room/" + strconv.Itoa(i%7))); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
	}
	if err := r.Sync(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	os.Exit(3) // the parent went away without killing us
}

// TestKilledNodeIsReaped runs a node in a child process, SIGKILLs it, and
// checks that the three other nodes reap its subscriptions within TTL +
// CheckInterval (plus slack for a loaded machine), each reported exactly
// once, by one reaper, as it was registered.
func TestKilledNodeIsReaped(t *testing.T) {
	switch runtime.GOOS {
	case "js", "wasip1", "ios", "android":
		t.Skipf("cannot run a child process on %s", runtime.GOOS)
	}
	addr := testenv.StartRedis(t)
	p := prefix(t)
	const n = 1500 // three pages of the reaper's HSCAN
	var reaped changes
	var nodes []*redis.Registry
	for _, name := range []string{"a", "b", "c"} {
		r := open(t, addr, fast(redis.Options{Prefix: p, Node: name, PageSize: 500}))
		watch(t, &reaped, r, false)
		nodes = append(nodes, r)
	}
	mine := presencetest.MustJoin(t, nodes[0], presencetest.Sub())

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperNode$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s victim %d", helperEnv, addr, p, n))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting the helper: %v", err)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "ready" {
				ready <- true
				io.Copy(io.Discard, stdout)
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		if !ok {
			cmd.Wait()
			t.Fatalf("helper exited before it was ready:\n%s", stderr.String())
		}
	case <-time.After(wait):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper not ready after %v:\n%s", wait, stderr.String())
	}

	registered := make(map[string]presence.Subscription)
	for s, err := range nodes[1].List(t.Context()) {
		if err != nil {
			t.Fatal(err)
		}
		if s.Node == "victim" {
			registered[s.ID] = s
		}
	}
	if len(registered) != n {
		t.Fatalf("node b lists %d subscriptions of the helper node, want %d", len(registered), n)
	}

	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no goodbye
		t.Fatal(err)
	}
	killed := time.Now()
	cmd.Wait()
	waitFor(t, "every subscription of the killed node to be reaped", func() bool { return reaped.count() >= n })
	took := time.Since(killed)
	// The bound is TTL + CheckInterval = 1s; the reaping itself (three
	// pages) and a loaded machine under -race get 2s more.
	if bound := 750*time.Millisecond + 250*time.Millisecond; took > bound+2*time.Second {
		t.Errorf("reaped %v after the kill; the bound is %v (TTL + CheckInterval) plus the reaping", took, bound)
	}
	t.Logf("all %d subscriptions reaped %v after SIGKILL", n, took.Round(time.Millisecond))

	rc := client(t, addr)
	waitFor(t, "the killed node to leave the set", func() bool {
		return !rc.SIsMember(t.Context(), "{"+p+"}:nodes", "victim").Val()
	})
	// The reaping is over (its hash and its place in the set are gone), so
	// nothing more can be reported: the counts are final.
	reaped.mu.Lock()
	defer reaped.mu.Unlock()
	if reaped.total != n || len(reaped.by) != n {
		t.Errorf("%d reports of %d distinct subscriptions, want %d, each once", reaped.total, len(reaped.by), n)
	}
	reapers := make(map[string]int)
	for id, by := range reaped.by {
		reapers[by[0]]++
		s, ok := registered[id]
		if !ok {
			t.Errorf("reported %q, which the killed node did not hold", id)
			continue
		}
		if d := presencetest.Equal(reaped.subs[id], s); d != "" {
			t.Errorf("reported record %q differs from the registered one: %s", id, d)
		}
	}
	if len(reapers) != 1 {
		t.Errorf("reports came from %v, want one reaper", reapers)
	}
	if rc.Exists(t.Context(), "{"+p+"}:subs:victim").Val() != 0 {
		t.Error("the killed node's hash is still there")
	}
	if rc.Get(t.Context(), "{"+p+"}:reaped:victim").Val() == "" {
		t.Error("no tombstone names the reaper")
	}
	for _, r := range nodes {
		if c := count(t, r); c.Cluster != 1 {
			t.Errorf("%s: Count = %+v, want 1 in the cluster (a's own)", r.Node(), c)
		}
	}
	seen, _ := presencetest.Collect(t, nodes[2])
	if len(seen) != 1 || seen[mine.ID] != 1 {
		t.Errorf("after the reaping c lists %d subscriptions, want only a's %q", len(seen), mine.ID)
	}
}

// TestReapedNodeComesBack checks a node that others reaped while it was
// alive but cut off (its liveness key expired: here deleted, as expiry
// would): the reaper reports its records gone, and when the node writes
// again it registers them again and reports each as restored, so that its
// hub announces them anew.
func TestReapedNodeComesBack(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	rc := client(t, addr)
	// a writes only when asked (long heartbeat and check); b checks often.
	a := open(t, addr, redis.Options{Prefix: p, Node: "a", TTL: time.Hour, CheckInterval: time.Hour})
	b := open(t, addr, redis.Options{Prefix: p, Node: "b", TTL: time.Hour, CheckInterval: 20 * time.Millisecond})
	var reaped, restored changes
	watch(t, &reaped, b, false)
	watch(t, &restored, a, true)
	for range 5 {
		presencetest.MustJoin(t, a, presencetest.Sub())
	}
	mustSync(t, a)
	if err := rc.Del(t.Context(), "{"+p+"}:alive:a").Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to reap a's records", func() bool {
		return reaped.count() == 5 && !rc.SIsMember(t.Context(), "{"+p+"}:nodes", "a").Val()
	})
	if c := count(t, b); c.Cluster != 0 {
		t.Errorf("after the reaping b counts %+v, want none", c)
	}
	mustSync(t, a) // a writes, finds its key gone, registers again
	if restored.count() != 5 {
		t.Errorf("a reported %d records restored, want 5", restored.count())
	}
	for id := range reaped.by {
		if len(restored.by[id]) != 1 {
			t.Errorf("reaped %q was restored %d times, want once", id, len(restored.by[id]))
		}
	}
	if c := count(t, b); c.Cluster != 5 {
		t.Errorf("after a came back b counts %+v, want its 5", c)
	}
	if rc.Exists(t.Context(), "{"+p+"}:reaped:a").Val() != 0 {
		t.Error("the tombstone is still there after a came back")
	}
	mustSync(t, a) // nothing more to restore
	if restored.count() != 5 {
		t.Errorf("a reported %d restores after a second write, want still 5", restored.count())
	}
}

// TestRedisOutage stops Redis under two nodes and starts it again, empty:
// reads fail with ErrUnavailable meanwhile, joins and leaves do not, and
// afterwards each node has registered its records again, with nothing
// reported as reaped.
func TestRedisOutage(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	p := prefix(t)
	a := open(t, srv.Addr(), fast(redis.Options{Prefix: p, Node: "a"}))
	b := open(t, srv.Addr(), fast(redis.Options{Prefix: p, Node: "b"}))
	var changed changes
	watch(t, &changed, a, false)
	watch(t, &changed, b, false)
	want := map[string]bool{}
	var gone string
	for i := range 3 {
		s := presencetest.MustJoin(t, a, presencetest.Sub())
		if i == 0 {
			gone = s.ID
		} else {
			want[s.ID] = true
		}
	}
	want[presencetest.MustJoin(t, b, presencetest.Sub()).ID] = true
	mustSync(t, a)
	mustSync(t, b)

	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := a.Sync(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Sync with Redis down = %v, want ErrUnavailable", err)
	}
	if c, err := a.Count(ctx); !errors.Is(err, store.ErrUnavailable) || c.Node != 3 {
		t.Errorf("Count with Redis down = %+v, %v; want the node's 3 and ErrUnavailable", c, err)
	}
	var listErr error
	for _, err := range a.List(ctx) {
		listErr = err
	}
	if !errors.Is(listErr, store.ErrUnavailable) {
		t.Errorf("List with Redis down ended with %v, want ErrUnavailable", listErr)
	}
	if _, err := b.Get(ctx, gone); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Get of another node's record with Redis down = %v, want ErrUnavailable", err)
	}
	// Changes while Redis is away are kept and written once it is back.
	if err := a.Leave(gone); err != nil {
		t.Errorf("Leave with Redis down = %v, want nil", err)
	}
	want[presencetest.MustJoin(t, a, presencetest.Sub()).ID] = true

	srv.Start() // empty: it saved nothing
	waitFor(t, "both nodes to register their records again", func() bool {
		seen := map[string]bool{}
		for s, err := range b.List(t.Context()) {
			if err != nil {
				return false
			}
			seen[s.ID] = true
		}
		return fmt.Sprint(seen) == fmt.Sprint(want)
	})
	if got := count(t, a); got != (presence.Counts{Node: 3, Cluster: 4}) {
		t.Errorf("after Redis came back a counts %+v, want 3 of 4", got)
	}
	if changed.count() != 0 {
		t.Errorf("%d changes reported across a Redis restart, want none: no node died", changed.count())
	}
}

func TestNewUnreachable(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	r, err := redis.New(ctx, redis.Options{Addr: srv.Addr(), Prefix: prefix(t)})
	if !errors.Is(err, store.ErrUnavailable) {
		if r != nil {
			r.Close(ctx)
		}
		t.Fatalf("New with Redis down = %v, want an error wrapping ErrUnavailable", err)
	}
}

func TestCloseWithRedisDown(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	r, err := redis.New(t.Context(), redis.Options{Addr: srv.Addr(), Prefix: prefix(t)})
	if err != nil {
		t.Fatal(err)
	}
	presencetest.MustJoin(t, r, presencetest.Sub())
	srv.Stop()
	ctx, cancel := context.WithTimeout(t.Context(), wait)
	defer cancel()
	if err := r.Close(ctx); !errors.Is(err, store.ErrUnavailable) {
		t.Errorf("Close with Redis down = %v, want ErrUnavailable (the records expire instead)", err)
	}
	if err := r.Close(ctx); err != nil {
		t.Errorf("second Close = %v, want nil", err)
	}
}

func TestBadOptions(t *testing.T) {
	addr := testenv.StartRedis(t)
	tests := []struct {
		name string
		opts redis.Options
	}{
		{"prefix with a brace", redis.Options{Prefix: "a{b}"}},
		{"node with a colon", redis.Options{Node: "a:b"}},
		{"node too long", redis.Options{Node: strings.Repeat("n", presence.MaxNodeLen+1)}},
		{"heartbeat as long as the TTL", redis.Options{TTL: time.Second, Heartbeat: time.Second}},
		{"negative heartbeat", redis.Options{Heartbeat: -time.Second}},
		{"negative TTL", redis.Options{TTL: -time.Second}},
		{"negative check interval", redis.Options{CheckInterval: -1}},
		{"negative flush interval", redis.Options{FlushInterval: -1}},
		{"negative page size", redis.Options{PageSize: -1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.Addr = addr
			r, err := redis.New(t.Context(), tc.opts)
			if !errors.Is(err, presence.ErrInvalid) {
				if r != nil {
					r.Close(t.Context())
				}
				t.Errorf("New = %v, want ErrInvalid", err)
			}
		})
	}
	if r, err := redis.New(t.Context(), redis.Options{URL: "http://not-redis"}); err == nil {
		r.Close(t.Context())
		t.Error("New with an http:// URL succeeded")
	}
}

// TestCorruptRecord puts a value this package did not write into a node's
// hash: List yields an error wrapping ErrCorrupt for it and goes on, and
// Get reports it the same way.
func TestCorruptRecord(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	a := open(t, addr, redis.Options{Prefix: p, Node: "a"})
	b := open(t, addr, redis.Options{Prefix: p, Node: "b"})
	good := presencetest.MustJoin(t, a, presencetest.Sub())
	mustSync(t, a)
	rc := client(t, addr)
	if err := rc.HSet(t.Context(), "{"+p+"}:subs:a", "urn:uuid:bad", `{"t":[["regexp",".*"]],"s":1}`).Err(); err != nil {
		t.Fatal(err)
	}
	var ok, corrupt int
	for s, err := range b.List(t.Context()) {
		switch {
		case err == nil && s.ID == good.ID:
			ok++
		case errors.Is(err, redis.ErrCorrupt) && s.ID == "urn:uuid:bad" && s.Node == "a":
			corrupt++
		default:
			t.Errorf("List yielded %+v, %v", s, err)
		}
	}
	if ok != 1 || corrupt != 1 {
		t.Errorf("List yielded %d good and %d corrupt records, want 1 and 1", ok, corrupt)
	}
	if _, err := b.Get(t.Context(), "urn:uuid:bad"); !errors.Is(err, redis.ErrCorrupt) {
		t.Errorf("Get of the corrupt record = %v, want ErrCorrupt", err)
	}
}

// roundTrips counts what a go-redis client sends: one per command sent
// alone, one per pipeline.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

// commandStats returns the calls per command from INFO commandstats.
func commandStats(t testing.TB, rc *goredis.Client) map[string]int64 {
	t.Helper()
	info, err := rc.Info(context.Background(), "commandstats").Result()
	if err != nil {
		t.Fatal(err)
	}
	stats := make(map[string]int64)
	for line := range strings.Lines(info) {
		name, rest, ok := strings.Cut(strings.TrimSpace(line), ":calls=")
		if !ok {
			continue
		}
		calls, _, _ := strings.Cut(rest, ",")
		n, _ := strconv.ParseInt(calls, 10, 64)
		stats[strings.TrimPrefix(name, "cmdstat_")] = n
	}
	return stats
}

// TestJoinsAreBatched joins and then leaves 1,000 subscriptions, and
// counts what reached Redis: a handful of round trips and scripts, the
// records set and deleted inside them.
func TestJoinsAreBatched(t *testing.T) {
	srv := testenv.StartRedisServer(t) // private: commandstats count this test only
	rc := client(t, srv.Addr())
	var hook roundTrips
	c := goredis.NewClient(&goredis.Options{Addr: srv.Addr()})
	c.AddHook(&hook)
	t.Cleanup(func() { c.Close() })
	// Heartbeats and checks are slow here so that only the batches count.
	p := prefix(t)
	r := open(t, "", redis.Options{Client: c, Prefix: p, Node: "n", TTL: time.Hour, CheckInterval: time.Hour})
	var ids []string
	for _, phase := range []string{"join", "leave"} {
		if err := rc.ConfigResetStat(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		before := hook.n.Load()
		for i := range 1000 {
			if phase == "join" {
				ids = append(ids, presencetest.MustJoin(t, r, presencetest.Sub()).ID)
			} else if err := r.Leave(ids[i]); err != nil {
				t.Fatal(err)
			}
		}
		mustSync(t, r)
		trips := hook.n.Load() - before
		stats := commandStats(t, rc)
		scripts := stats["evalsha"] + stats["eval"]
		t.Logf("1,000 %ss: %d round trips, %d scripts, commands %v", phase, trips, scripts, stats)
		// One batch per FlushInterval the loop spans, plus the Sync's
		// write, plus EVAL after the first EVALSHA finds no script.
		if trips > 6 {
			t.Errorf("1,000 %ss took %d round trips, want a handful (at most 6)", phase, trips)
		}
		if scripts > 6 {
			t.Errorf("1,000 %ss ran %d scripts, want at most 6", phase, scripts)
		}
		if phase == "join" && stats["hset"] != 1000 || phase == "leave" && stats["hdel"] != 1000 {
			t.Errorf("1,000 %ss: HSET %d, HDEL %d inside the scripts", phase, stats["hset"], stats["hdel"])
		}
	}
	if n := rc.HLen(t.Context(), "{"+p+"}:subs:n").Val(); n != 0 {
		t.Errorf("after 1,000 joins and their leaves the node's hash holds %d records", n)
	}
}

// TestNodeLostFromSetRegistersAgain removes a live node from the set of
// nodes behind its back (as a Redis that lost keys would): its next check
// notices, and it registers again with all its records.
func TestNodeLostFromSetRegistersAgain(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	rc := client(t, addr)
	a := open(t, addr, fast(redis.Options{Prefix: p, Node: "a"}))
	b := open(t, addr, fast(redis.Options{Prefix: p, Node: "b"}))
	var changed changes
	watch(t, &changed, a, false)
	watch(t, &changed, b, false)
	s := presencetest.MustJoin(t, a, presencetest.Sub())
	mustSync(t, a)
	if err := rc.SRem(t.Context(), "{"+p+"}:nodes", "a").Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(t.Context(), s.ID); !errors.Is(err, presence.ErrNotFound) {
		t.Fatalf("b.Get with a out of the set = %v, want ErrNotFound", err)
	}
	waitFor(t, "a to register again", func() bool {
		_, err := b.Get(t.Context(), s.ID)
		return err == nil
	})
	if changed.count() != 0 {
		t.Errorf("%d changes reported, want none: a never died", changed.count())
	}
}

// TestReapResumesAfterReaperDies leaves a reaping half done, as a reaper
// that died after reporting its first page would (its claim expiring, its
// progress recorded), and checks that the next reaper reports exactly the
// records that page did not hold.
func TestReapResumesAfterReaperDies(t *testing.T) {
	addr := testenv.StartRedis(t)
	p := prefix(t)
	rc := client(t, addr)
	const n = 3000
	hash := "{" + p + "}:subs:dead"
	fields := make([]any, 0, 2*n)
	for range n {
		s := presencetest.Sub()
		s.Node, s.Start = "dead", time.Now()
		fields = append(fields, s.ID, redis.Encode(s))
	}
	if err := rc.HSet(t.Context(), hash, fields...).Err(); err != nil {
		t.Fatal(err)
	}
	// The dead reaper's first page and the cursor after it.
	firstPage, cursor, err := rc.HScan(t.Context(), hash, 0, "", 1000).Result()
	if err != nil || cursor == 0 {
		t.Fatalf("HSCAN: cursor %d, %v", cursor, err)
	}
	reportedBefore := map[string]bool{}
	for i := 0; i < len(firstPage); i += 2 {
		reportedBefore[firstPage[i]] = true
	}
	pipe := rc.TxPipeline()
	pipe.Set(t.Context(), "{"+p+"}:reaper:dead", "ghost", 300*time.Millisecond)
	pipe.Set(t.Context(), "{"+p+"}:progress:dead", strconv.FormatUint(cursor, 10), time.Minute)
	pipe.SAdd(t.Context(), "{"+p+"}:nodes", "dead")
	if _, err := pipe.Exec(t.Context()); err != nil {
		t.Fatal(err)
	}

	b := open(t, addr, redis.Options{Prefix: p, Node: "b", CheckInterval: 20 * time.Millisecond, PageSize: 700})
	var reaped changes
	watch(t, &reaped, b, false)
	waitFor(t, "b to finish the reaping", func() bool {
		return !rc.SIsMember(t.Context(), "{"+p+"}:nodes", "dead").Val()
	})
	reaped.mu.Lock()
	defer reaped.mu.Unlock()
	if want := n - len(reportedBefore); reaped.total != want || len(reaped.by) != want {
		t.Errorf("the second reaper reported %d records (%d distinct), want the %d the first had not", reaped.total, len(reaped.by), want)
	}
	for id := range reaped.by {
		if reportedBefore[id] {
			t.Errorf("%q, reported by the first reaper, was reported again", id)
			break
		}
	}
	if rc.Exists(t.Context(), hash, "{"+p+"}:progress:dead", "{"+p+"}:reaper:dead").Val() != 0 {
		t.Error("the dead node's hash, progress or claim is left after the reaping")
	}
}
