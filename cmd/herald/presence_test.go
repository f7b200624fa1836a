package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
)

// listPresence asks GET /presence?query of the node at base and decodes
// the answer, failing t unless it is 200.
func listPresence(t *testing.T, base, query string) api.PresenceList {
	t.Helper()
	resp, err := http.Get(base + "/presence?" + query)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s/presence?%s = %d %s", base, query, resp.StatusCode, body)
	}
	var out api.PresenceList
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET /presence?%s: %v in %s", query, err, body)
	}
	return out
}

// waitListed polls GET /presence?query of the node at base until it counts
// want subscribers (Redis registries write joins in the background), and
// returns the last answer.
func waitListed(t *testing.T, base, query string, want int) api.PresenceList {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second) // bounds a failure only
	for {
		got := listPresence(t, base, query)
		if got.Count == want {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s/presence?%s counts %d, want %d: %+v", base, query, got.Count, want, got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nextPresence reads the next presence event of d.
func nextPresence(t *testing.T, d *sse.Decoder) (string, api.Subscriber) {
	t.Helper()
	for {
		ev, err := d.Next()
		if err != nil {
			t.Fatalf("reading presence events: %v", err)
		}
		if ev.Type != api.TypeJoin && ev.Type != api.TypeLeave {
			continue
		}
		var s api.Subscriber
		if err := json.Unmarshal([]byte(ev.Data), &s); err != nil {
			t.Fatalf("%s %q: %v", ev.Type, ev.Data, err)
		}
		return ev.Type, s
	}
}

// TestPresenceThreeNodes: three nodes on one Redis. A subscription on A is
// listed by B and C, announced to a watcher on B with A's node and its
// payload, counted on C's /metrics; when it ends, its leave reaches B and
// nobody lists it.
func TestPresenceThreeNodes(t *testing.T) {
	addr := testenv.StartRedis(t)
	store := redisStore(t, addr)
	a, b, c := startNode(t, "--store", store), startNode(t, "--store", store), startNode(t, "--store", store)
	watch := b.subscribe(t, t.Context(), "/events?topic=presence/room/*", "")
	b.waitSubscribers(t, 1)

	ctx, leave := context.WithCancel(t.Context())
	a.subscribe(t, ctx, "/events?topic=room/1&topic=news&payload="+url.QueryEscape(`{"user":"ada"}`), "")
	typ, s := nextPresence(t, watch)
	if typ != api.TypeJoin || s.Node != a.presence.Node() || !slices.Equal(s.Topics, []string{"room/1"}) || string(s.Payload) != `{"user":"ada"}` {
		t.Fatalf("on B: %s %+v; want the join of A's subscriber (node %s) on room/1 with its payload", typ, s, a.presence.Node())
	}
	for _, n := range []*testNode{b, c} {
		got := waitListed(t, n.ts.URL, "topic=room/*", 1)
		if l := got.Subscribers[0]; l.ID != s.ID || l.Node != a.presence.Node() || l.Start != s.Start {
			t.Errorf("listed by %s: %+v, want %+v", n.presence.Node(), l, s)
		}
	}
	if got := listPresence(t, c.ts.URL, "topic=**"); got.Count != 1 || !slices.Equal(got.Subscribers[0].Topics, []string{"room/1", "news"}) {
		t.Errorf("C lists under **: %+v, want A's subscriber with both its topics (watchers are not listed)", got)
	}
	resp, err := http.Get(c.ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"\nherald_presence_subscriptions 0\n", "\nherald_presence_cluster_subscriptions 1\n"} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("C's /metrics lacks %q", strings.TrimSpace(want))
		}
	}

	leave()
	typ, l := nextPresence(t, watch)
	if typ != api.TypeLeave || l.ID != s.ID {
		t.Fatalf("on B after the subscriber left A: %s %+v, want its leave", typ, l)
	}
	waitListed(t, c.ts.URL, "topic=room/*", 0)
}

// TestPresenceAuthTwoNodes: with auth on, a node refuses to list or
// announce the presence of topics the caller's token does not cover, and
// carries a token's payload claim across nodes.
func TestPresenceAuthTwoNodes(t *testing.T) {
	addr := testenv.StartRedis(t)
	store := redisStore(t, addr)
	const secret = "a presence test secret, 32 bytes"
	a := startNode(t, "--store", store, "--auth-secret", secret)
	b := startNode(t, "--store", store, "--auth-secret", secret)
	tok := func(sub []string, payload string) string {
		c := server.Claims{Herald: server.Scope{Subscribe: sub}}
		if payload != "" {
			c.Payload = json.RawMessage(payload)
		}
		c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(time.Hour))
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(secret))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	member := tok([]string{"room/*"}, `{"name":"ada"}`)
	watcher := tok([]string{"presence/room/*"}, "")
	a.subscribe(t, t.Context(), "/events?topic=room/1&access_token="+member, "")
	a.waitSubscribers(t, 1)

	for _, c := range []struct {
		name, target string
		status       int
	}{
		{"no token", "/presence?topic=room/1", http.StatusUnauthorized},
		{"a member's token, without presence/", "/presence?topic=room/1&access_token=" + member, http.StatusForbidden},
		{"beyond the watcher's pattern", "/presence?topic=room/**&access_token=" + watcher, http.StatusForbidden},
		{"watch without a token", "/events?topic=presence/room/1", http.StatusUnauthorized},
		{"watch with a member's token", "/events?topic=presence/room/1&access_token=" + member, http.StatusForbidden},
	} {
		resp, err := http.Get(b.ts.URL + c.target)
		if err != nil {
			t.Fatal(err)
		}
		var e api.Error
		err = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		if resp.StatusCode != c.status || err != nil || e.Error == "" {
			t.Errorf("%s: %d (%v %q), want %d with a JSON error", c.name, resp.StatusCode, err, e.Error, c.status)
		}
	}
	got := waitListed(t, b.ts.URL, "topic=room/*&access_token="+watcher, 1)
	if string(got.Subscribers[0].Payload) != `{"name":"ada"}` {
		t.Errorf("B lists %+v, want the payload claim of the token A's subscriber used", got.Subscribers[0])
	}
}

// childEnv runs TestHelperServe as a herald node: "TTL CHECK STORE".
const childEnv = "HERALD_TEST_PRESENCE_CHILD"

// TestHelperServe is not a test: run by the killed-node tests in a child
// process, it serves a node on the Redis store in childEnv with the
// presence timings there (and the flags after them), prints "ready URL
// NODE", and serves until it is killed.
func TestHelperServe(t *testing.T) {
	spec := strings.Fields(os.Getenv(childEnv))
	if len(spec) < 3 {
		t.Skip("a helper process of TestPresenceKilledNode, not a test")
	}
	ttl, err1 := time.ParseDuration(spec[0])
	check, err2 := time.ParseDuration(spec[1])
	if err1 != nil || err2 != nil {
		t.Fatalf("%s=%q: bad durations", childEnv, os.Getenv(childEnv))
	}
	var cfg serveConfig
	if err := serveFlags(&cfg).Parse(append([]string{"--store", spec[2]}, spec[3:]...)); err != nil {
		t.Fatal(err)
	}
	cfg.presenceTimings = presenceTimings{ttl: ttl, check: check}
	if err := cfg.resolveAuth(); err != nil {
		t.Fatal(err)
	}
	n, err := newNode(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(n.handler())
	fmt.Printf("ready %s %s\n", ts.URL, n.presence.Node())
	io.Copy(io.Discard, os.Stdin) // serves until killed
}

// killedNode runs a herald node in a child process with the presence
// timings t (on every node), subscribes to it three times, SIGKILLs it, and
// checks that the two other nodes announce each of its subscriptions gone,
// once, and stop listing them, within TTL + check interval (the bound
// docs/presence.md states) and slack for a loaded machine.
func killedNode(t *testing.T, timings presenceTimings, slack time.Duration) {
	addr := testenv.StartRedis(t)
	store := redisStore(t, addr)
	b := startNodeWith(t, timings, "--store", store)
	c := startNodeWith(t, timings, "--store", store)
	watch := b.subscribe(t, t.Context(), "/events?topic=presence/room/*", "")
	b.waitSubscribers(t, 1)

	childURL, childNode, kill := startChild(t, timings, store)
	child := &testNode{ts: &httptest.Server{URL: childURL}}
	ids := make(map[string]bool)
	for i := range 3 {
		child.subscribe(t, t.Context(), fmt.Sprintf("/events?topic=room/%d", i), "")
		typ, s := nextPresence(t, watch)
		if typ != api.TypeJoin || s.Node != childNode {
			t.Fatalf("join %d on B: %s %+v, want a join on the child node %s", i, typ, s, childNode)
		}
		ids[s.ID] = true
	}
	waitListed(t, c.ts.URL, "topic=room/*", 3)

	kill()
	start := time.Now()
	for range 3 {
		typ, s := nextPresence(t, watch)
		if typ != api.TypeLeave || !ids[s.ID] || s.Node != childNode {
			t.Fatalf("on B after the kill: %s %+v, want the leave of one of the child's subscriptions, once", typ, s)
		}
		delete(ids, s.ID)
	}
	took := time.Since(start)
	ttl, check := orDefault(timings.ttl, 15*time.Second), orDefault(timings.check, 5*time.Second)
	t.Logf("the killed node's 3 subscriptions announced gone after %v (bound %v)", took, ttl+check)
	if took > ttl+check+slack {
		t.Errorf("announced gone after %v, beyond the bound %v (TTL + check) and %v of slack", took, ttl+check, slack)
	}
	// The reaper announces each record, then deletes the dead node's hash:
	// the listing empties right after the last leave.
	for _, n := range []*testNode{b, c} {
		waitListed(t, n.ts.URL, "topic=room/*", 0)
	}
}

// startChild starts a herald node in a child process on the Redis store,
// with the presence timings and the flags args, and returns its URL, its
// node ID, and a function that SIGKILLs it. The child is killed at the
// test's end if it was not.
func startChild(t *testing.T, timings presenceTimings, store string, args ...string) (childURL, childNode string, kill func()) {
	t.Helper()
	switch runtime.GOOS {
	case "js", "wasip1", "ios", "android":
		t.Skipf("cannot run a child process on %s", runtime.GOOS)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServe$", "-test.count=1")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %s %s %s", childEnv, timings.ttl, timings.check, store, strings.Join(args, " ")))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start the child node: %v", err)
	}
	killed := false
	t.Cleanup(func() {
		if !killed {
			cmd.Process.Kill()
		}
		cmd.Wait()
	})
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "ready" {
			childURL, childNode = f[1], f[2]
			break
		}
	}
	if childURL == "" {
		t.Fatalf("the child node never said ready:\n%s", stderr.String())
	}
	go io.Copy(io.Discard, stdout)

	return childURL, childNode, func() {
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		killed = true
	}
}

// orDefault returns d, or def when d is zero.
func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// TestPresenceKilledNode SIGKILLs a node with the liveness shortened (TTL
// 750 ms, checked every 250 ms).
func TestPresenceKilledNode(t *testing.T) {
	killedNode(t, presenceTimings{ttl: 750 * time.Millisecond, check: 250 * time.Millisecond}, 3*time.Second)
}

// TestPresenceKilledNodeRealTimings SIGKILLs a node with the default
// liveness (TTL 15 s, checked every 5 s): up to 20 s. Skipped with -short.
func TestPresenceKilledNodeRealTimings(t *testing.T) {
	if testing.Short() {
		t.Skip("waits up to 20 s for the default presence TTL; run without -short")
	}
	killedNode(t, presenceTimings{}, 5*time.Second)
}

// TestPresenceHistoryPolicy: with presence on, presence/** gets a history
// policy of its own, last, unless a --history pattern covers it.
func TestPresenceHistoryPolicy(t *testing.T) {
	for _, c := range []struct {
		name     string
		presence bool
		history  []string
		want     string
	}{
		{"presence on, demo policies", true, nil, "[{stocks/** 200 10m0s} {system/** 200 10m0s} {chat/** 5000 24h0m0s} {tasks/** 5000 24h0m0s} {presence/** 1000 10m0s}]"},
		{"presence on, a policy of the user's", true, []string{"--history", "chat/**=5"}, "[{chat/** 5 0s} {presence/** 1000 10m0s}]"},
		{"presence on, a pattern covering presence/**", true, []string{"--history", "**=5"}, "[{** 5 0s}]"},
		{"presence on, the user's own presence policy", true, []string{"--history", "presence/**=7"}, "[{presence/** 7 0s}]"},
		{"presence off", false, []string{"--history", "chat/**=5"}, "[{chat/** 5 0s}]"},
	} {
		var h historyConfig
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		historyFlags(fs, &h)
		if err := fs.Parse(c.history); err != nil {
			t.Fatal(err)
		}
		h.presence = c.presence
		r := h.retention()
		if got := fmt.Sprint(r.Policies); got != c.want {
			t.Errorf("%s: policies %s, want %s", c.name, got, c.want)
		}
		if err := r.Validate(); err != nil {
			t.Errorf("%s: %v", c.name, err)
		}
	}
}
