package apps_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
)

// boardState is the data of a GET /task-events event.
type boardState struct {
	TaskID   string `json:"task_id"`
	Status   string `json:"status"`
	Progress int    `json:"progress"`
}

// boardQuery returns the query that follows ids on GET /task-events.
func boardQuery(ids ...string) string {
	q := url.Values{"task": ids}
	return "/task-events?" + q.Encode()
}

// readBoard reads the task board stream until every task in want has a
// final state, and returns the states by task, the events read, and the
// tasks listed by the "unknown" event (nil when none came).
func readBoard(t *testing.T, dec *sse.Decoder, want ...string) (map[string][]boardState, []sse.Event, []string) {
	t.Helper()
	states := map[string][]boardState{}
	var evs []sse.Event
	var unknown []string
	open := map[string]bool{}
	for _, id := range want {
		open[id] = true
	}
	for len(open) > 0 {
		ev := next(t, dec)
		evs = append(evs, ev)
		switch ev.Type {
		case "unknown":
			var u struct {
				Tasks []string `json:"tasks"`
			}
			decodeStrict(t, ev.Data, &u)
			if unknown != nil {
				t.Errorf("a second unknown event: %s", ev.Data)
			}
			unknown = append([]string{}, u.Tasks...)
		case "":
			var s boardState
			decodeStrict(t, ev.Data, &s)
			if ev.ID == "" {
				t.Errorf("state %s without an ID", ev.Data)
			}
			states[s.TaskID] = append(states[s.TaskID], s)
			if s.Status == "completed" || s.Status == "failed" || s.Status == "cancelled" {
				delete(open, s.TaskID)
			}
		default:
			t.Fatalf("unexpected event type %q: %s", ev.Type, ev.Data)
		}
	}
	return states, evs, unknown
}

// TestTaskEvents follows two tasks and one unknown ID on one stream: each
// task's states arrive in order, tagged with its ID, the unknown ID is named
// once, and a resume with Last-Event-ID sends only what came after it.
func TestTaskEvents(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	a, b := startTask(ctx, t, ts.URL), startTask(ctx, t, ts.URL)
	const never = "NOSUCHTASK"
	dec := subscribe(ctx, t, ts.URL+boardQuery(a, never, b), nil)
	states, evs, unknown := readBoard(t, dec, a, b)
	if len(unknown) != 1 || unknown[0] != never {
		t.Errorf("unknown tasks %q, want [%s]", unknown, never)
	}
	for _, id := range []string{a, b} {
		var got []progress
		for _, s := range states[id] {
			got = append(got, progress{s.Status, s.Progress})
		}
		want := wantRun()
		if len(got) != len(want) {
			t.Fatalf("task %s: states %v, want %v", id, got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("task %s: state %d is %v, want %v", id, i, got[i], want[i])
			}
		}
	}

	// Resume after the fourth state: the rest, and no unknown event.
	var rest int
	var lastID string
	for i, ev := range evs {
		if ev.Type == "" && lastID == "" && i >= 3 {
			lastID = ev.ID
			continue
		}
		if lastID != "" && ev.Type == "" {
			rest++
		}
	}
	dec = subscribe(ctx, t, ts.URL+boardQuery(a, b), http.Header{"Last-Event-ID": {lastID}})
	got := 0
	for got < rest {
		ev := next(t, dec)
		if ev.Type != "" {
			t.Fatalf("resumed stream sent an event of type %q: %s", ev.Type, ev.Data)
		}
		got++
	}
}

// TestTaskEventsRejects names each bad request of GET /task-events.
func TestTaskEventsRejects(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)
	many := make([]string, 33)
	for i := range many {
		many[i] = "TASK" + strings.Repeat("A", i+1)
	}
	for _, tc := range []struct {
		name, target string
	}{
		{"no task", "/task-events"},
		{"empty task", "/task-events?task="},
		{"ID with a slash", "/task-events?task=" + url.QueryEscape("a/b")},
		{"ID with a wildcard", "/task-events?task=" + url.QueryEscape("*")},
		{"ID too long", "/task-events?task=" + strings.Repeat("A", 65)},
		{"33 tasks", boardQuery(many...)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(ctx, t, http.MethodGet, ts.URL+tc.target)
			checkJSONError(t, resp, body, http.StatusBadRequest)
		})
	}
}

// TestCancelTask cancels a running and a queued task with DELETE
// /tasks/{id}: 202 each, then both end cancelled; a second DELETE, an
// unknown task and an invalid ID get 404.
func TestCancelTask(t *testing.T) {
	opts := fast()
	opts.TaskStep = time.Hour // they never finish on their own
	opts.TaskConcurrency = 1  // the second task waits, queued
	ts := serve(t, newApps(t, opts).Handler())
	ctx := testCtx(t)
	running, queued := startTask(ctx, t, ts.URL), startTask(ctx, t, ts.URL)
	for _, id := range []string{queued, running} {
		resp, body := do(ctx, t, http.MethodDelete, ts.URL+"/tasks/"+id)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("DELETE /tasks/%s: status %d %s, want 202", id, resp.StatusCode, body)
		}
		var got struct {
			TaskID string `json:"task_id"`
			Status string `json:"status"`
		}
		decodeStrict(t, body, &got)
		if got.TaskID != id || got.Status != "cancelling" {
			t.Errorf("DELETE /tasks/%s: %s, want the ID and status cancelling", id, body)
		}
	}
	states, _, unknown := readBoard(t, subscribe(ctx, t, ts.URL+boardQuery(running, queued), nil), running, queued)
	if len(unknown) != 0 {
		t.Errorf("unknown tasks %q, want none", unknown)
	}
	for _, id := range []string{running, queued} {
		s := states[id]
		if last := s[len(s)-1]; last.Status != "cancelled" {
			t.Errorf("task %s ends %v, want cancelled", id, last)
		}
	}
	for _, tc := range []struct{ name, path string }{
		{"finished task", "/tasks/" + running},
		{"unknown task", "/tasks/NOSUCHTASK"},
		{"invalid ID", "/tasks/not-an-id"},
		{"ID too long", "/tasks/" + strings.Repeat("A", 65)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(ctx, t, http.MethodDelete, ts.URL+tc.path)
			checkJSONError(t, resp, body, http.StatusNotFound)
		})
	}
}
