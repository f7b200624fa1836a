package apps

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/tasks"
)

// The task monitor: POST /start-task starts a task on the apps' runner, which
// publishes each of its states on the hub, on topic tasks.Topic(id); GET
// /task-progress/{task_id} subscribes to that topic from the start of its
// history and ends after the final state. Because the states live in the
// hub's history, a client that subscribes late or reconnects mid-task gets
// the current state by replay, for as long as the history keeps it.

// taskSteps is the number of steps of a task, 10 % each.
const taskSteps = 10

// startTask serves POST /start-task: it starts a task and answers 200 with
// {"task_id": "..."}, or 503 when MaxTasks tasks are queued or running or
// the apps are closed.
func (a *Apps) startTask(w http.ResponseWriter, r *http.Request) {
	id, err := a.runner.Start(r.Context(), a.work)
	switch {
	case err == nil:
	case errors.Is(err, tasks.ErrTooMany):
		writeError(w, http.StatusServiceUnavailable, "too many tasks; try again later")
		return
	case errors.Is(err, tasks.ErrClosed), errors.Is(err, hub.ErrClosed):
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	default:
		a.log.Warn("task not started", "err", err)
		writeError(w, http.StatusServiceUnavailable, "cannot start a task: "+err.Error())
		return
	}
	a.log.Info("task started", "task", id)
	writeJSON(w, http.StatusOK, struct {
		TaskID string `json:"task_id"`
	}{id})
}

// work is the tutorial's task: ten steps of TaskStep, reporting 10, 20, ...
// 90 % after the first nine; the runner reports completed at 100 % when it
// returns.
func (a *Apps) work(ctx context.Context, report func(percent int)) error {
	tick := time.NewTicker(a.opts.TaskStep)
	defer tick.Stop()
	for step := 1; step <= taskSteps; step++ {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if step < taskSteps {
			report(step * 100 / taskSteps)
		}
	}
	return nil
}

// taskProgress serves GET /task-progress/{task_id}: the task's states from
// the start of its history, then each new one, ending the stream after the
// final state (completed, failed or cancelled). Each event carries the hub's
// ID, so a client that reconnects with Last-Event-ID (or ?lastEventId=)
// resumes after the last state it received.
//
// A task the history does not hold (never started, malformed ID, or
// evicted) gets 404. A client that resumes after the final state of a
// finished task gets 204, which tells an EventSource to stop reconnecting.
func (a *Apps) taskProgress(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("task_id")
	if !tasks.ValidID(id) {
		writeError(w, http.StatusNotFound, errUnknownTask.Error())
		return
	}
	if a.refuseClosed(w) {
		return
	}
	ctx := r.Context()
	topic := tasks.Topic(id)
	lastID := sse.LastEventID(r)

	// Everything is decided before the stream opens: a stream that is
	// opened is a 200, and an EventSource reconnects to it forever. So the
	// task's whole history is looked at first: none means an unknown task.
	// Done before Subscribe, a final state seen here is also in the
	// subscription's replay.
	last, n, err := a.latestState(ctx, topic)
	if err != nil {
		a.subscribeFailed(w, r, err)
		return
	}
	if n == 0 {
		writeError(w, http.StatusNotFound, errUnknownTask.Error())
		return
	}
	sub, err := a.hub.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{topic}, LastEventID: lastID, FromStart: true, MarkReplayed: true})
	if err != nil {
		a.subscribeFailed(w, r, err)
		return
	}
	defer sub.Close()

	// The stream opens with the first event, unless the first is the end
	// of a replay that held nothing after the client's ID for a finished
	// task: the client has the final state already, nothing more will
	// come, and 204 tells it to stop.
	var st *sse.Stream
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			// The client left, or the hub closed: what was pending has
			// been sent.
			return
		}
		if ev.Type == hub.TypeReplayed {
			if st == nil && lastID != "" && sub.Replayed() == 0 && last.Status.Finished() {
				w.WriteHeader(http.StatusNoContent)
				return
			}
			if st == nil {
				if st = a.openStream(w, r); st == nil {
					return
				}
				defer st.Close()
			}
			continue // the hub's marker is not part of the tutorial's stream
		}
		if st == nil {
			if st = a.openStream(w, r); st == nil {
				return
			}
			defer st.Close()
		}
		if ev.Type != hub.TypeGap {
			p, ok := parseState(ev.Event)
			if !ok {
				a.log.Debug("not a task's state; skipped", "topic", topic, "id", ev.ID)
				continue
			}
			if p.Status.Finished() {
				_ = st.Send(ev.Event)
				return
			}
		}
		if st.Send(ev.Event) != nil {
			return
		}
	}
}

// latestState returns the latest state that the hub's history holds for a
// task's topic and how many events it holds there.
func (a *Apps) latestState(ctx context.Context, topic string) (tasks.Progress, int, error) {
	var last tasks.Progress
	sub, err := a.hub.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{topic}, FromStart: true, MarkReplayed: true})
	if err != nil {
		return last, 0, err
	}
	defer sub.Close()
	n, err := readHistory(ctx, sub, func(ev hub.Event) {
		if p, ok := parseState(ev.Event); ok {
			last = p
		}
	})
	return last, n, err
}

// parseState returns the task state that ev carries, or false when it
// carries none: anyone may publish on a task's topic through the hub's API,
// and a page should not be fed what it cannot parse.
func parseState(ev sse.Event) (tasks.Progress, bool) {
	if ev.Type != "" && ev.Type != "message" {
		return tasks.Progress{}, false
	}
	p, err := tasks.ParseProgress(ev.Data)
	if err != nil {
		return p, false
	}
	switch p.Status {
	case tasks.Queued, tasks.Running, tasks.Completed, tasks.Failed, tasks.Cancelled:
		return p, true
	}
	return p, false
}

// subscribeFailed answers a progress request whose subscription failed:
// 503 when the hub is closed, or the client left, 500 otherwise.
func (a *Apps) subscribeFailed(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, hub.ErrClosed) || r.Context().Err() != nil {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	a.log.Error("task progress: subscribe failed", "path", r.URL.Path, "err", err)
	writeError(w, http.StatusInternalServerError, "cannot read the task's progress")
}
