package apps

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/tasks"
)

// The task board (exercise 1): one page runs many tasks, started with POST
// /start-task and cancelled with DELETE /tasks/{id}, and follows all of
// them on ONE stream, GET /task-events?task=A&task=B..., rather than one
// stream per task: browsers allow six HTTP/1.1 connections per origin, so
// a stream per task stalls the page from the sixth task on. The page keeps
// its task IDs in localStorage; after a reload it opens the stream for
// them again, and the hub's history replays each task's current state.

// maxBoardTasks bounds the tasks of one GET /task-events stream. It is the
// hub's default limit of topics per subscription.
const maxBoardTasks = 32

// routeTaskBoard registers the routes of the task board.
func (a *Apps) routeTaskBoard(mux *routeMux) {
	mux.HandleFunc("DELETE /tasks/{id}", a.cancelTask)
	mux.HandleFunc("GET /task-events", a.taskEvents)
}

// cancelTask serves DELETE /tasks/{id}: it cancels a queued or running
// task and answers 202 {"task_id": "...", "status": "cancelling"}; the
// task's final state, cancelled, follows on its topic once it has stopped.
// A task that is unknown, already finished, or not a valid ID gets 404.
func (a *Apps) cancelTask(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !tasks.ValidID(id) {
		writeError(w, http.StatusNotFound, errUnknownTask.Error())
		return
	}
	if err := a.runner.Cancel(id); err != nil {
		if errors.Is(err, tasks.ErrNotFound) {
			writeError(w, http.StatusNotFound, "no queued or running task "+id)
			return
		}
		a.log.Warn("task not cancelled", "task", id, "err", err)
		writeError(w, http.StatusInternalServerError, "cannot cancel the task")
		return
	}
	a.log.Info("task cancelled", "task", id)
	writeJSON(w, http.StatusAccepted, struct {
		TaskID string `json:"task_id"`
		Status string `json:"status"`
	}{id, "cancelling"})
}

// boardEvent is the data of a task board event: a task's ID and state.
type boardEvent struct {
	TaskID   string      `json:"task_id"`
	Status   tasks.State `json:"status"`
	Progress int         `json:"progress"`
	Error    string      `json:"error,omitempty"`
}

// taskEvents serves GET /task-events?task=A&task=B: the states of up to 32
// tasks on one stream, as unnamed events with data {"task_id": "...",
// "status": "...", "progress": n} and the hub's IDs. Without Last-Event-ID
// (or ?lastEventId=) it replays each task's history from the start, so the
// page gets each one's current state, then sends one event of type
// "unknown", {"tasks": [...]}, listing the tasks the history does not hold
// (never started, or evicted); with it, it resumes after that ID. Errors:
// 400 when no task is given, one is not a valid ID, or there are more than
// 32.
func (a *Apps) taskEvents(w http.ResponseWriter, r *http.Request) {
	ids := r.URL.Query()["task"]
	switch {
	case len(ids) == 0:
		writeError(w, http.StatusBadRequest, "missing query parameter task")
		return
	case len(ids) > maxBoardTasks:
		writeError(w, http.StatusBadRequest, "too many tasks: at most 32 per stream")
		return
	}
	topics := make([]string, len(ids))
	for i, id := range ids {
		if !tasks.ValidID(id) {
			writeError(w, http.StatusBadRequest, "invalid task ID "+quoteShort(id))
			return
		}
		topics[i] = tasks.Topic(id)
	}
	if a.refuseClosed(w) {
		return
	}
	ctx := r.Context()
	lastID := sse.LastEventID(r)
	sub, err := a.hub.Subscribe(ctx, hub.SubscribeRequest{Topics: topics, LastEventID: lastID, FromStart: lastID == "", MarkReplayed: true})
	if err != nil {
		if errors.Is(err, hub.ErrTooManyTopics) || errors.Is(err, hub.ErrInvalidTopic) {
			writeError(w, http.StatusBadRequest, err.Error())
			return
		}
		a.subscribeFailed(w, r, err)
		return
	}
	defer sub.Close()

	st := a.openStream(w, r)
	if st == nil {
		return
	}
	defer st.Close()
	// On a fresh stream, once the history is sent (the hub's
	// herald:replayed marker), the tasks not seen have none.
	unseen := map[string]bool{}
	if lastID == "" {
		for _, id := range ids {
			unseen[id] = true
		}
	}
	reportUnknown := func() bool {
		if lastID != "" {
			return true
		}
		list := []string{}
		for _, id := range ids {
			if unseen[id] {
				list = append(list, id)
				unseen[id] = false
			}
		}
		data, _ := json.Marshal(struct {
			Tasks []string `json:"tasks"`
		}{list})
		return st.Send(sse.Event{Type: "unknown", Data: string(data)}) == nil
	}
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			return // the client left, or the hub closed
		}
		if ev.Type == hub.TypeReplayed {
			if !reportUnknown() {
				return
			}
			continue
		}
		if out, task, ok := boardOut(ev); ok {
			delete(unseen, task)
			if st.Send(out) != nil {
				return
			}
		}
	}
}

// boardOut returns the event the task board sends for ev and the task it
// is about, or false for an event that carries no task state.
func boardOut(ev hub.Event) (sse.Event, string, bool) {
	if ev.Type == hub.TypeGap {
		return ev.Event, "", true
	}
	p, ok := parseState(ev.Event)
	if !ok {
		return sse.Event{}, "", false
	}
	id, _ := strings.CutPrefix(ev.Topic, "tasks/")
	data, _ := json.Marshal(boardEvent{TaskID: id, Status: p.Status, Progress: p.Progress, Error: p.Error})
	return sse.Event{ID: ev.ID, Data: string(data)}, id, true
}

// quoteShort quotes s for an error message, cut to 64 bytes.
func quoteShort(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	b, _ := json.Marshal(s)
	return string(b)
}
