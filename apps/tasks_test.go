package apps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/tasks"
)

var taskIDPattern = regexp.MustCompile(`^[A-Z2-7]{26}$`)

// startTask starts a task and returns its ID.
func startTask(ctx context.Context, t *testing.T, base string) string {
	t.Helper()
	resp, body := do(ctx, t, http.MethodPost, base+"/start-task")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /start-task: status %d %s, want 200", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("POST /start-task: Content-Type %q, want application/json", ct)
	}
	var data struct {
		TaskID string `json:"task_id"`
	}
	decodeStrict(t, body, &data)
	if !taskIDPattern.MatchString(data.TaskID) {
		t.Fatalf("task_id %q does not match %v", data.TaskID, taskIDPattern)
	}
	return data.TaskID
}

type progress struct {
	Status   string `json:"status"`
	Progress int    `json:"progress"`
}

// wantRun is every state a task's stream sends when the task runs to
// completion: queued, then running from 0 to 90 %, then completed.
func wantRun() []progress {
	states := []progress{{"queued", 0}, {"running", 0}}
	for p := 10; p < 100; p += 10 {
		states = append(states, progress{"running", p})
	}
	return append(states, progress{"completed", 100})
}

// readEvents reads a stream to its end and returns its events.
func readEvents(t *testing.T, dec *sse.Decoder) []sse.Event {
	t.Helper()
	var evs []sse.Event
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return evs
		}
		if err != nil {
			t.Fatalf("after %d events: %v", len(evs), err)
		}
		evs = append(evs, ev)
	}
}

// statesOf decodes each event's data as a task's state, strictly.
func statesOf(t *testing.T, evs []sse.Event) []progress {
	t.Helper()
	states := make([]progress, len(evs))
	for i, ev := range evs {
		if ev.Type != "" {
			t.Fatalf("event %d has type %q, want an unnamed event", i, ev.Type)
		}
		decodeStrict(t, ev.Data, &states[i])
	}
	return states
}

// readProgress reads a task's stream to its end and returns every state.
func readProgress(t *testing.T, dec *sse.Decoder) []progress {
	t.Helper()
	return statesOf(t, readEvents(t, dec))
}

// checkIDs checks that every event has an ID and that no two share one.
func checkIDs(t *testing.T, evs []sse.Event) {
	t.Helper()
	seen := make(map[string]bool)
	for i, ev := range evs {
		if ev.ID == "" || seen[ev.ID] {
			t.Errorf("event %d has ID %q, want a new, non-empty one", i, ev.ID)
		}
		seen[ev.ID] = true
	}
}

// progressOf reads the task stream at url to its end and returns every
// state. Unlike readProgress it may run on any goroutine.
func progressOf(ctx context.Context, url string) ([]progress, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: status %d", url, resp.StatusCode)
	}
	dec := sse.NewDecoder(resp.Body)
	var states []progress
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return states, nil
		}
		if err != nil {
			return states, fmt.Errorf("GET %s: after %v: %w", url, states, err)
		}
		var p progress
		if err := json.Unmarshal([]byte(ev.Data), &p); err != nil {
			return states, fmt.Errorf("GET %s: data %q: %w", url, ev.Data, err)
		}
		states = append(states, p)
	}
}

// checkRun checks that states are exactly those of a task run to
// completion.
func checkRun(t *testing.T, states []progress) {
	t.Helper()
	if want := wantRun(); !slices.Equal(states, want) {
		t.Errorf("states\n%v\nwant\n%v", states, want)
	}
}

func TestTaskProgress(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	id := startTask(ctx, t, ts.URL)
	if other := startTask(ctx, t, ts.URL); other == id {
		t.Errorf("two tasks got the same ID %q", id)
	}
	evs := readEvents(t, subscribe(ctx, t, ts.URL+"/task-progress/"+id, nil))
	checkRun(t, statesOf(t, evs))
	checkIDs(t, evs)
}

func TestTasksRunConcurrently(t *testing.T) {
	opts := fast()
	opts.TaskStep = 20 * time.Millisecond
	opts.TaskConcurrency = 2 // the others wait, queued
	ts := serve(t, newApps(t, opts).Handler())
	ctx := testCtx(t)
	const n = 5
	ids := make([]string, n)
	for i := range ids {
		ids[i] = startTask(ctx, t, ts.URL)
	}
	// Subscribe to every task at once, each from its own goroutine, and
	// check the results on the test's goroutine.
	results := make([][]progress, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() { results[i], errs[i] = progressOf(ctx, ts.URL+"/task-progress/"+id) })
	}
	wg.Wait()
	for i, states := range results {
		t.Run(ids[i], func(t *testing.T) {
			if errs[i] != nil {
				t.Fatal(errs[i])
			}
			checkRun(t, states)
		})
	}
}

// TestTaskLateSubscriber subscribes to a finished task: the history replays
// its states up to the final one, and the stream ends.
func TestTaskLateSubscriber(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	id := startTask(ctx, t, ts.URL)
	first := readEvents(t, subscribe(ctx, t, ts.URL+"/task-progress/"+id, nil))
	checkRun(t, statesOf(t, first))

	for range 2 {
		late := readEvents(t, subscribe(ctx, t, ts.URL+"/task-progress/"+id, nil))
		if !slices.Equal(late, first) {
			t.Errorf("late subscriber got\n%v\nwant the same events as the first\n%v", late, first)
		}
	}
}

// TestTaskResume drops a task's stream mid-task and reconnects with the
// last event ID, as a browser does: the states missed while disconnected
// come from history, with no gap and no duplicate.
func TestTaskResume(t *testing.T) {
	opts := fast()
	opts.TaskStep = 30 * time.Millisecond
	ts := serve(t, newApps(t, opts).Handler())
	for _, how := range []string{"header", "query"} {
		t.Run(how, func(t *testing.T) {
			ctx := testCtx(t)
			id := startTask(ctx, t, ts.URL)
			target := ts.URL + "/task-progress/" + id

			// Read three states (queued, running 0, running 10), then drop
			// the connection while the task goes on.
			dropCtx, drop := context.WithCancel(ctx)
			dec := subscribe(dropCtx, t, target, nil)
			var evs []sse.Event
			for range 3 {
				evs = append(evs, next(t, dec))
			}
			drop()

			var header http.Header
			switch how {
			case "header":
				header = http.Header{"Last-Event-Id": {dec.LastEventID()}}
			case "query":
				target += "?lastEventId=" + url.QueryEscape(dec.LastEventID())
			}
			evs = append(evs, readEvents(t, subscribe(ctx, t, target, header))...)
			checkRun(t, statesOf(t, evs))
			checkIDs(t, evs)
		})
	}
}

// TestTaskResumeEdges resumes a finished task's stream from each kind of
// last event ID.
func TestTaskResumeEdges(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	id := startTask(ctx, t, ts.URL)
	target := ts.URL + "/task-progress/" + id
	evs := readEvents(t, subscribe(ctx, t, target, nil))
	checkRun(t, statesOf(t, evs))
	final, beforeFinal := evs[len(evs)-1], evs[len(evs)-2]

	t.Run("before_the_final_state", func(t *testing.T) {
		got := readEvents(t, subscribe(ctx, t, target, http.Header{"Last-Event-Id": {beforeFinal.ID}}))
		if !slices.Equal(got, []sse.Event{final}) {
			t.Errorf("got %v, want only the final state %v", got, final)
		}
	})
	t.Run("after_the_final_state", func(t *testing.T) {
		// Nothing more will come: 204 tells an EventSource to stop.
		resp, body := doHeader(ctx, t, target, http.Header{"Last-Event-Id": {final.ID}})
		if resp.StatusCode != http.StatusNoContent || body != "" {
			t.Errorf("status %d %q, want 204 and no body", resp.StatusCode, body)
		}
	})
	t.Run("unknown_id", func(t *testing.T) {
		// An ID the hub cannot resume from (another run's, or garbage):
		// a gap notice, then everything history holds.
		got := readEvents(t, subscribe(ctx, t, target, http.Header{"Last-Event-Id": {"not-an-id"}}))
		if len(got) == 0 || got[0].Type != hub.TypeGap {
			t.Fatalf("got %v, want a %s event first", got, hub.TypeGap)
		}
		if !slices.Equal(got[1:], evs) {
			t.Errorf("after the gap notice got\n%v\nwant the whole history\n%v", got[1:], evs)
		}
	})
	t.Run("unknown_task", func(t *testing.T) {
		other := ts.URL + "/task-progress/" + "NOSUCHTASK"
		resp, body := doHeader(ctx, t, other, http.Header{"Last-Event-Id": {final.ID}})
		checkJSONError(t, resp, body, http.StatusNotFound)
	})
}

// doHeader sends GET url with header and returns the response and its body.
func doHeader(ctx context.Context, t *testing.T, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = header
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return resp, string(body)
}

// TestTaskProgressSkipsForeignEvents publishes on a task's topic what is not
// a task's state, as any client of the hub's API could: the progress stream
// skips it rather than feed the page something it cannot parse.
func TestTaskProgressSkipsForeignEvents(t *testing.T) {
	h := newHub(t)
	opts := fast()
	opts.Hub = h
	ts := serve(t, newApps(t, opts).Handler())
	ctx := testCtx(t)
	const id = "HANDMADE"
	for _, data := range []string{
		"not json",
		`{"status": "running", "progress": 50}`,
		`[1, 2]`,
		`{"count": 1}`,
		`{"status": "failed", "progress": 50, "error": "out of disk"}`,
	} {
		if _, err := h.Publish(ctx, hub.Message{Topic: tasks.Topic(id), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	evs := readEvents(t, subscribe(ctx, t, ts.URL+"/task-progress/"+id, nil))
	var got []string
	for _, ev := range evs {
		got = append(got, ev.Data)
	}
	want := []string{`{"status": "running", "progress": 50}`, `{"status": "failed", "progress": 50, "error": "out of disk"}`}
	if !slices.Equal(got, want) {
		t.Errorf("stream sent %q, want %q", got, want)
	}
}

func TestMaxTasks(t *testing.T) {
	opts := fast()
	opts.TaskStep = time.Hour
	opts.MaxTasks = 2
	ts := serve(t, newApps(t, opts).Handler())
	ctx := testCtx(t)
	startTask(ctx, t, ts.URL)
	startTask(ctx, t, ts.URL)
	resp, body := do(ctx, t, http.MethodPost, ts.URL+"/start-task")
	checkJSONError(t, resp, body, http.StatusServiceUnavailable)
}
