package apps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
)

// These tests run in a synctest bubble: time is fake and starts at
// 2000-01-01 00:00:00 UTC (Unix 946684800), timers fire as soon as every
// goroutine of the bubble is blocked, and the bubble fails if a goroutine is
// left behind, which checks that Close stops everything the apps started.

// newBubbleApps returns apps on a new hub, both made inside the bubble so
// that their goroutines belong to it, and a function that closes the apps,
// then the hub, which the caller runs before the bubble ends.
func newBubbleApps(t *testing.T, opts apps.Options) (*apps.Apps, func()) {
	t.Helper()
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatalf("hub.New: %v", err)
	}
	opts.Hub = h
	if opts.MetricsInterval == 0 {
		// The metrics sampler publishes on the same hub, which would shift
		// the IDs these tests spell out: no sample within a test.
		opts.MetricsInterval = 1000 * time.Hour
	}
	if opts.SequenceInterval == 0 {
		// Likewise the reconnection demo's sequence.
		opts.SequenceInterval = 1000 * time.Hour
	}
	if opts.StockInterval == 0 {
		// Likewise the stock ticker.
		opts.StockInterval = 1000 * time.Hour
	}
	a, err := apps.New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, func() {
		t.Helper()
		if err := a.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := h.Close(t.Context()); err != nil {
			t.Errorf("hub Close: %v", err)
		}
	}
}

// get serves one request with h and returns the recorded response; it
// returns when the handler does.
func get(ctx context.Context, h http.Handler, method, target string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, method, target, nil))
	return rec
}

// streamFor serves GET target for d of fake time, then disconnects the
// client and returns everything the stream sent.
func streamFor(t *testing.T, h http.Handler, target string, header http.Header, d time.Duration) string {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	req := httptest.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	var wg sync.WaitGroup
	wg.Go(func() { h.ServeHTTP(rec, req) })
	time.Sleep(d)
	cancel()
	wg.Wait()
	return rec.Body.String()
}

// TestStreamsWire checks each counting stream's exact bytes and timing: the
// first event at once, then one per interval.
func TestStreamsWire(t *testing.T) {
	tests := []struct {
		name   string
		target string
		header http.Header
		want   string
	}{{
		name:   "stream",
		target: "/stream",
		want: "data: {\"count\": 1, \"time\": 946684800.000000}\n\n" +
			"data: {\"count\": 2, \"time\": 946684801.000000}\n\n" +
			"data: {\"count\": 3, \"time\": 946684802.000000}\n\n",
	}, {
		name:   "advanced-stream",
		target: "/advanced-stream",
		want: "event: time\ndata: {\"time\": 946684800.000000}\n\n" +
			"event: counter\ndata: {\"count\": 2}\n\n" +
			"event: time\ndata: {\"time\": 946684804.000000}\n\n",
	}, {
		name:   "stream-with-id",
		target: "/stream-with-id",
		want: "id: 1\ndata: {\"message\": \"Update #1\"}\n\n" +
			"id: 2\ndata: {\"message\": \"Update #2\"}\n\n" +
			"id: 3\ndata: {\"message\": \"Update #3\"}\n\n",
	}, {
		name:   "stream-with-id_resumed",
		target: "/stream-with-id",
		header: http.Header{"Last-Event-Id": {"41"}},
		want: "id: 42\ndata: {\"message\": \"Update #42\"}\n\n" +
			"id: 43\ndata: {\"message\": \"Update #43\"}\n\n" +
			"id: 44\ndata: {\"message\": \"Update #44\"}\n\n",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				a, closeAll := newBubbleApps(t, apps.Options{}) // the tutorial's timings
				defer closeAll()
				// Three events: at 0 s, 1 s and 2 s (0, 2 and 4 s for
				// /advanced-stream), and the client leaves before the fourth.
				d := 2500 * time.Millisecond
				if tt.target == "/advanced-stream" {
					d *= 2
				}
				if got := streamFor(t, a.Handler(), tt.target, tt.header, d); got != tt.want {
					t.Errorf("GET %s sent\n%q\nwant\n%q", tt.target, got, tt.want)
				}
			})
		})
	}
}

// TestTaskTimeline follows one task with the tutorial's timings, ten steps
// of a second, over the exact bytes of its stream; then a late subscriber
// gets them again from history, until the hub's history (one hour by
// default) has let them go.
func TestTaskTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, closeAll := newBubbleApps(t, apps.Options{})
		defer closeAll()
		h := a.Handler()
		ctx := t.Context()

		id := taskID(t, get(ctx, h, http.MethodPost, "/start-task"))
		start := time.Now()
		rec := get(ctx, h, http.MethodGet, "/task-progress/"+id)
		// The hub's IDs: its log's epoch (the bubble's start, in Unix
		// milliseconds) and a sequence number.
		event := func(n int, status string, progress int) string {
			return fmt.Sprintf("id: 946684800000-%d\ndata: {\"status\": %q, \"progress\": %d}\n\n", n, status, progress)
		}
		want := event(1, "queued", 0) + event(2, "running", 0)
		for step := 1; step < 10; step++ {
			want += event(2+step, "running", 10*step)
		}
		want += event(12, "completed", 100)
		if got := rec.Body.String(); got != want {
			t.Errorf("progress stream:\n%s\nwant\n%s", got, want)
		}
		if took := time.Since(start); took != 10*time.Second {
			t.Errorf("the task took %v, want 10s", took)
		}

		// Late: the same bytes, at once.
		time.Sleep(time.Hour - 11*time.Second)
		lateStart := time.Now()
		if got := get(ctx, h, http.MethodGet, "/task-progress/"+id).Body.String(); got != want {
			t.Errorf("late subscriber got\n%s\nwant\n%s", got, want)
		}
		if took := time.Since(lateStart); took != 0 {
			t.Errorf("the late subscriber waited %v, want 0", took)
		}

		// Past the history's age, the task is forgotten.
		time.Sleep(12 * time.Second)
		rec = get(ctx, h, http.MethodGet, "/task-progress/"+id)
		if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("after the history's age: %d %q, want 404 with a JSON error", rec.Code, rec.Body)
		}
	})
}

// TestTaskResumeTimeline drops a task's stream after 4.5 s, while the task
// runs, and reconnects 2 s later with the last ID received, as a browser
// does: the second stream starts with the two states missed meanwhile, from
// history, then goes on live, and the two streams together hold every
// state once.
func TestTaskResumeTimeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, closeAll := newBubbleApps(t, apps.Options{})
		defer closeAll()
		h := a.Handler()
		event := func(n int, status string, progress int) string {
			return fmt.Sprintf("id: 946684800000-%d\ndata: {\"status\": %q, \"progress\": %d}\n\n", n, status, progress)
		}

		id := taskID(t, get(t.Context(), h, http.MethodPost, "/start-task"))
		got := streamFor(t, h, "/task-progress/"+id, nil, 4500*time.Millisecond)
		want := event(1, "queued", 0) + event(2, "running", 0)
		for step := 1; step <= 4; step++ {
			want += event(2+step, "running", 10*step)
		}
		if got != want {
			t.Fatalf("first stream:\n%s\nwant\n%s", got, want)
		}

		time.Sleep(2 * time.Second)
		resumed := time.Now()
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/task-progress/"+id, nil)
		req.Header.Set("Last-Event-ID", "946684800000-6")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		want = ""
		for step := 5; step <= 9; step++ {
			want += event(2+step, "running", 10*step)
		}
		want += event(12, "completed", 100)
		if got := rec.Body.String(); got != want {
			t.Errorf("resumed stream:\n%s\nwant\n%s", got, want)
		}
		// 50 % and 60 % came from history at once; the rest live, the
		// last at 10 s.
		if took := time.Since(resumed); took != 3500*time.Millisecond {
			t.Errorf("the resumed stream lasted %v, want 3.5s", took)
		}
	})
}

// taskID returns the task_id of a POST /start-task answer.
func taskID(t *testing.T, rec *httptest.ResponseRecorder) string {
	t.Helper()
	var data struct {
		TaskID string `json:"task_id"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &data); rec.Code != http.StatusOK || err != nil {
		t.Fatalf("POST /start-task: %d %q (%v)", rec.Code, rec.Body, err)
	}
	return data.TaskID
}

// TestCloseStopsTasks starts tasks with a follower each and closes the apps
// and the hub halfway: each task is cancelled, its follower's stream says so
// and ends, and every goroutine stops, or the bubble reports the one left
// behind.
func TestCloseStopsTasks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a, closeAll := newBubbleApps(t, apps.Options{})
		h := a.Handler()
		var followers sync.WaitGroup
		bodies := make([]*httptest.ResponseRecorder, 3)
		for i := range bodies {
			id := taskID(t, get(t.Context(), h, http.MethodPost, "/start-task"))
			followers.Go(func() { bodies[i] = get(t.Context(), h, http.MethodGet, "/task-progress/"+id) })
		}
		time.Sleep(4500 * time.Millisecond)
		closeAll()
		followers.Wait()
		for i, rec := range bodies {
			dec := sse.NewDecoder(rec.Body)
			var last sse.Event
			for {
				ev, err := dec.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				last = ev
			}
			if want := `{"status": "cancelled", "progress": 40}`; last.Data != want {
				t.Errorf("follower %d: last state %q, want %q", i, last.Data, want)
			}
		}
	})
}
