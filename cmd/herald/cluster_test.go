package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/sse"
)

// testNode is one herald node served over real HTTP on loopback.
type testNode struct {
	*node
	ts *httptest.Server
}

// startNode builds a node from serve's flags, as herald serve would.
func startNode(t *testing.T, args ...string) *testNode {
	t.Helper()
	return startNodeWith(t, presenceTimings{}, args...)
}

// startNodeWith is startNode with a Redis presence registry's liveness
// settings (zero: its defaults).
func startNodeWith(t *testing.T, timings presenceTimings, args ...string) *testNode {
	t.Helper()
	var cfg serveConfig
	fs := serveFlags(&cfg)
	if err := fs.Parse(append([]string{"--task-step", "20ms", "--heartbeat", "1s"}, args...)); err != nil {
		t.Fatal(err)
	}
	cfg.presenceTimings = timings
	if err := cfg.resolveAuth(); err != nil {
		t.Fatal(err)
	}
	n, err := newNode(t.Context(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{node: n, ts: httptest.NewServer(n.handler())}
	t.Cleanup(func() { tn.stop(t) })
	return tn
}

// stop closes the node as a shutdown does: streams get their retry hint
// and end, then the HTTP server closes.
func (n *testNode) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if n.ts == nil {
		return
	}
	if err := n.close(ctx); err != nil {
		t.Errorf("node close: %v", err)
	}
	n.ts.Close()
	n.ts = nil
}

func (n *testNode) publish(t *testing.T, topic, data string) (string, int) {
	t.Helper()
	body := fmt.Sprintf(`{"topic":%q,"data":%q}`, topic, data)
	resp, err := http.Post(n.ts.URL+"/events", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST /events: %d, body not JSON: %v", resp.StatusCode, err)
	}
	return out["id"], resp.StatusCode
}

func (n *testNode) subscribe(t *testing.T, ctx context.Context, query, lastID string) *sse.Decoder {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.ts.URL+query, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d", query, resp.StatusCode)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return sse.NewDecoder(resp.Body)
}

// waitSubscribers waits until n's hub counts want subscriptions.
func (n *testNode) waitSubscribers(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for n.hub.Stats().Subscribers != want {
		if time.Now().After(deadline) {
			t.Fatalf("subscribers = %d, want %d", n.hub.Stats().Subscribers, want)
		}
		time.Sleep(time.Millisecond)
	}
}

func redisStore(t *testing.T, addr string) string {
	return "redis://" + addr + "/0"
}

// TestTwoNodesOneRedis: events published on node A reach every subscriber
// on node B in order; when B stops mid-stream, its client reconnects to A
// with its Last-Event-ID and misses nothing.
func TestTwoNodesOneRedis(t *testing.T) {
	addr := testenv.StartRedis(t)
	stream := "herald:test:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	a := startNode(t, "--store", redisStore(t, addr), "--redis-stream", stream)
	b := startNode(t, "--store", redisStore(t, addr), "--redis-stream", stream)

	const subscribers, events = 5, 200
	var decs []*sse.Decoder
	for range subscribers {
		decs = append(decs, b.subscribe(t, t.Context(), "/events?topic=room/*", ""))
	}
	b.waitSubscribers(t, subscribers)
	var ids []string
	for i := range events {
		id, status := a.publish(t, "room/"+strconv.Itoa(i%3), strconv.Itoa(i))
		if status != http.StatusCreated {
			t.Fatalf("publish %d on A: %d", i, status)
		}
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	for s, dec := range decs {
		wg.Go(func() {
			for i := range events {
				ev, err := dec.Next()
				if err != nil {
					t.Errorf("subscriber %d on B, event %d: %v", s, i, err)
					return
				}
				if ev.ID != ids[i] || ev.Data != strconv.Itoa(i) {
					t.Errorf("subscriber %d on B, event %d: got %s %q, want %s %d", s, i, ev.ID, ev.Data, ids[i], i)
					return
				}
			}
		})
	}
	wg.Wait()

	// Stop B mid-stream: its client got events up to ids[events-1] and
	// reads the retry hint; more events are published while it is away.
	dec := decs[0]
	b.stop(t)
	if _, err := dec.Next(); err != io.EOF {
		t.Fatalf("after B stopped: %v, want EOF", err)
	}
	if r, ok := dec.Retry(); !ok || r < 3*time.Second {
		t.Errorf("retry hint from the stopping node = %v, %v; want at least 3s", r, ok)
	}
	var missed []string
	for i := range 20 {
		id, _ := a.publish(t, "room/1", "while away "+strconv.Itoa(i))
		missed = append(missed, id)
	}
	again := a.subscribe(t, t.Context(), "/events?topic=room/*", dec.LastEventID())
	for i, want := range missed {
		ev, err := again.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.ID != want {
			t.Fatalf("after reconnecting to A, event %d is %s %q, want %s", i, ev.ID, ev.Data, want)
		}
	}
}

// TestRedisRestartLosesNoAcknowledgedEvent publishes through node A while
// Redis restarts: publishes during the outage answer 503 with a JSON error,
// /readyz fails, and every publish that was acknowledged (201) reaches a
// subscriber on node B, in order.
func TestRedisRestartLosesNoAcknowledgedEvent(t *testing.T) {
	srv := testenv.StartRedisServer(t, "--appendonly", "yes", "--appendfsync", "always")
	a := startNode(t, "--store", redisStore(t, srv.Addr()))
	b := startNode(t, "--store", redisStore(t, srv.Addr()))
	dec := b.subscribe(t, t.Context(), "/events?topic=r", "")
	b.waitSubscribers(t, 1)

	var acked []string
	publish := func(n int) {
		for i := range n {
			id, status := a.publish(t, "r", strconv.Itoa(i))
			switch status {
			case http.StatusCreated:
				acked = append(acked, id)
			case http.StatusServiceUnavailable:
			default:
				t.Fatalf("publish: status %d, want 201 or 503", status)
			}
		}
	}
	publish(20)
	srv.Stop()
	if _, status := a.publish(t, "r", "down"); status != http.StatusServiceUnavailable {
		t.Errorf("publish while Redis is down: %d, want 503", status)
	}
	resp, err := http.Get(a.ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("/readyz while Redis is down: %d, want 503", resp.StatusCode)
	}
	srv.Start()
	publish(20)
	for i, want := range acked {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		if ev.ID != want {
			t.Fatalf("event %d on B: %s, want acknowledged %s", i, ev.ID, want)
		}
	}
}

// TestTaskAcrossNodes starts a task through node A and follows its
// progress from node B.
func TestTaskAcrossNodes(t *testing.T) {
	addr := testenv.StartRedis(t)
	stream := "herald:test:" + strconv.FormatInt(time.Now().UnixNano(), 36)
	a := startNode(t, "--store", redisStore(t, addr), "--redis-stream", stream)
	b := startNode(t, "--store", redisStore(t, addr), "--redis-stream", stream)
	resp, err := http.Post(a.ts.URL+"/start-task", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var started struct {
		TaskID string `json:"task_id"`
	}
	json.NewDecoder(resp.Body).Decode(&started)
	resp.Body.Close()
	dec := b.subscribe(t, t.Context(), "/task-progress/"+started.TaskID, "")
	var last string
	for {
		ev, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = ev.Data
	}
	if last != `{"status": "completed", "progress": 100}` {
		t.Errorf("last progress from node B = %s, want completed 100", last)
	}
}

// TestBoltSurvivesRestart publishes on a node with a bolt store, stops it,
// starts another on the same file, and resumes with the last ID.
func TestBoltSurvivesRestart(t *testing.T) {
	path := "bolt:" + filepath.Join(t.TempDir(), "events.db")
	first := startNode(t, "--store", path)
	var ids []string
	for i := range 10 {
		id, _ := first.publish(t, "a", strconv.Itoa(i))
		ids = append(ids, id)
	}
	first.stop(t)
	second := startNode(t, "--store", path)
	dec := second.subscribe(t, t.Context(), "/events?topic=a", ids[4])
	for i := 5; i < 10; i++ {
		ev, err := dec.Next()
		if err != nil || ev.ID != ids[i] {
			t.Fatalf("after restart, replay %d: %+v %v, want %s", i, ev, err, ids[i])
		}
	}
	if ev, err := dec.Next(); err != nil || ev.Type != "herald:replayed" || ev.Data != `{"count":5}` || ev.ID != ids[9] {
		t.Fatalf("after the replay: %+v %v, want herald:replayed with count 5, last event ID unchanged", ev, err)
	}
	id, _ := second.publish(t, "a", "new")
	if ev, _ := dec.Next(); ev.ID != id || ev.Data != "new" {
		t.Errorf("live after restart: %+v, want %s", ev, id)
	}
}
