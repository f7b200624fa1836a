package apps

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
)

// Reconnection and recovery (exercise 5): a ticker owned by the apps
// publishes a numbered sequence on the hub, on topic SequenceTopic; GET
// /reconnect/stream subscribes to it and, on a reconnect with Last-Event-ID,
// resumes from the hub's history, so the page can check that no number was
// skipped or repeated. POST /reconnect/drop ends a client's streams on
// demand, each with an "error" event that says why, as the tutorial
// recommends, and the browser reconnects on its own.

// SequenceTopic is the topic the sequence of the reconnection demo is
// published on, with data {"seq": n, "run": "...", "time": <unix seconds>}.
const SequenceTopic = "demo/sequence"

// maxClientID bounds the client IDs of the reconnection demo.
const maxClientID = 64

// sequence owns the ticker that publishes the demo's sequence and the
// streams that can be dropped.
type sequence struct {
	a    *Apps
	run  string // this process's run: the sequence restarts at 1 with another
	stop context.CancelFunc
	wg   sync.WaitGroup // the ticker and every open stream

	mu      sync.Mutex
	closed  bool
	streams map[string]map[*dropper]struct{} // by client ID
}

// dropper ends one stream: drop records why, then closes its subscription.
type dropper struct {
	sub    *hub.Subscription
	mu     sync.Mutex
	reason string
	code   string
}

func (d *dropper) drop(code, reason string) {
	d.mu.Lock()
	if d.reason == "" {
		d.code, d.reason = code, reason
	}
	d.mu.Unlock()
	d.sub.Close()
}

func (d *dropper) why() (code, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.code, d.reason
}

// startSequence starts the ticker that publishes the sequence every
// SequenceInterval, until closeSequence.
func (a *Apps) startSequence() *sequence {
	ctx, cancel := context.WithCancel(context.Background())
	s := &sequence{a: a, run: rand.Text()[:8], stop: cancel, streams: make(map[string]map[*dropper]struct{})}
	s.wg.Go(func() { s.tick(ctx) })
	return s
}

// seqData is the data of a sequence event.
type seqData struct {
	Seq  uint64  `json:"seq"`
	Run  string  `json:"run"`
	Time float64 `json:"time"`
}

func (s *sequence) tick(ctx context.Context) {
	t := time.NewTicker(s.a.opts.SequenceInterval)
	defer t.Stop()
	var n uint64
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			n++
			data, _ := json.Marshal(seqData{Seq: n, Run: s.run, Time: float64(now.UnixMicro()) / 1e6})
			if _, err := s.a.hub.Publish(ctx, hub.Message{Topic: SequenceTopic, Data: string(data)}); err != nil {
				if errors.Is(err, hub.ErrClosed) {
					return
				}
				if ctx.Err() == nil {
					s.a.log.Warn("sequence not published", "seq", n, "err", err)
				}
			}
		}
	}
}

// close stops the ticker and drops every stream with an error event, and
// waits for them, or returns an error wrapping ctx.Err().
func (s *sequence) close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	for _, ds := range s.streams {
		for d := range ds {
			d.drop("shutdown", "the server is shutting down; reconnect to resume")
		}
	}
	s.mu.Unlock()
	s.stop()
	if err := waitGroup(ctx, &s.wg); err != nil {
		return fmt.Errorf("apps: close the sequence: %w", err)
	}
	return nil
}

// add registers d for client, or reports false once closed.
func (s *sequence) add(client string, d *dropper) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	ds := s.streams[client]
	if ds == nil {
		ds = make(map[*dropper]struct{})
		s.streams[client] = ds
	}
	ds[d] = struct{}{}
	s.wg.Add(1)
	return true
}

func (s *sequence) remove(client string, d *dropper) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams[client], d)
	if len(s.streams[client]) == 0 {
		delete(s.streams, client)
	}
	s.wg.Done()
}

// dropClient drops every stream of client and returns how many.
func (s *sequence) dropClient(client string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for d := range s.streams[client] {
		d.drop("dropped", "the server dropped this stream at your request; reconnect to resume")
	}
	return len(s.streams[client])
}

// validClientID reports whether id is 1 to 64 ASCII letters, digits, '-'
// or '_'.
func validClientID(id string) bool {
	if id == "" || len(id) > maxClientID {
		return false
	}
	for _, c := range []byte(id) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// clientParam returns the client query parameter of r, or answers 400 and
// returns false.
func clientParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	client := r.URL.Query().Get("client")
	switch {
	case client == "":
		writeError(w, http.StatusBadRequest, "missing query parameter client")
		return "", false
	case !validClientID(client):
		writeError(w, http.StatusBadRequest, "invalid client: want 1 to 64 letters, digits, '-' or '_'")
		return "", false
	}
	return client, true
}

// routeReconnect registers the routes of the reconnection demo.
func (a *Apps) routeReconnect(mux *routeMux) {
	mux.HandleFunc("GET /reconnect/stream", a.reconnectStream)
	mux.HandleFunc("POST /reconnect/drop", a.reconnectDrop)
}

// errorInfo is the data of the "error" event sent before a stream is
// dropped.
type errorInfo struct {
	Code   string `json:"code"`
	Reason string `json:"reason"`
}

// reconnectStream serves GET /reconnect/stream?client=<id>: the sequence's
// live events, each with the hub's ID; with a Last-Event-ID header (or
// ?lastEventId=), first every event after it that the history holds, then
// an event of type herald:replayed, {"count": n}, without an ID, that says
// how many (the hub's marker, as on GET /events). It ends with an event of
// type "error", {"code": "...", "reason": "..."}, when POST /reconnect/drop
// or Close drops it.
func (a *Apps) reconnectStream(w http.ResponseWriter, r *http.Request) {
	client, ok := clientParam(w, r)
	if !ok {
		return
	}
	if a.refuseClosed(w) {
		return
	}
	ctx := r.Context()
	lastID := sse.LastEventID(r)
	sub, err := a.hub.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{SequenceTopic}, LastEventID: lastID, MarkReplayed: true})
	if err != nil {
		a.subscribeFailed(w, r, err)
		return
	}
	defer sub.Close()
	d := &dropper{sub: sub}
	if !a.seq.add(client, d) {
		writeError(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	defer a.seq.remove(client, d)

	st := a.openStream(w, r)
	if st == nil {
		return
	}
	defer st.Close()
	for ev, serr := range sub.Events(ctx) {
		if serr != nil {
			err = serr
			break
		}
		if err = st.Send(ev.Event); err != nil {
			break
		}
	}
	if code, reason := d.why(); reason != "" {
		msg, _ := json.Marshal(errorInfo{Code: code, Reason: reason})
		_ = st.Send(sse.Event{Type: "error", Data: string(msg)})
		a.log.Debug("reconnect stream dropped", "client", client, "code", code)
		return
	}
	a.log.Debug("reconnect stream ended", "client", client, "err", err)
}

// reconnectDrop serves POST /reconnect/drop?client=<id>: it drops every
// stream of that client, each with an "error" event, and answers 200
// {"dropped": n}; 404 when the client has no stream open.
func (a *Apps) reconnectDrop(w http.ResponseWriter, r *http.Request) {
	client, ok := clientParam(w, r)
	if !ok {
		return
	}
	n := a.seq.dropClient(client)
	if n == 0 {
		writeError(w, http.StatusNotFound, "no open stream for client "+client)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Dropped int `json:"dropped"`
	}{n})
}
