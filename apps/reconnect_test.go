package apps_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
)

// seqEvent is the data of a sequence event.
type seqEvent struct {
	Seq  int     `json:"seq"`
	Run  string  `json:"run"`
	Time float64 `json:"time"`
}

func fastSequence() apps.Options {
	opts := fast()
	opts.SequenceInterval = 5 * time.Millisecond
	return opts
}

// openSequence opens GET /reconnect/stream for client.
func openSequence(ctx context.Context, t *testing.T, base, client string, header http.Header) *sse.Decoder {
	t.Helper()
	return subscribe(ctx, t, base+"/reconnect/stream?client="+client, header)
}

// nextSeq reads the next sequence event.
func nextSeq(t *testing.T, dec *sse.Decoder) (sse.Event, seqEvent) {
	t.Helper()
	ev := next(t, dec)
	if ev.Type != "" || ev.ID == "" {
		t.Fatalf("event %+v, want an unnamed event with an ID", ev)
	}
	var s seqEvent
	decodeStrict(t, ev.Data, &s)
	if s.Seq <= 0 || s.Run == "" || s.Time <= 0 {
		t.Fatalf("sequence event %s: want seq > 0, a run and a time", ev.Data)
	}
	return ev, s
}

// TestReconnectDropAndResume drops a stream: the client gets an error
// event, then the end of the stream; reconnecting with the last event ID
// replays what was published meanwhile, with no gap and no duplicate.
func TestReconnectDropAndResume(t *testing.T) {
	ts := serve(t, newApps(t, fastSequence()).Handler())
	ctx := testCtx(t)

	// A fresh stream starts with live events: no replay, no marker
	// (nextSeq fails on any other event).
	dec := openSequence(ctx, t, ts.URL, "alice", nil)
	watch := openSequence(ctx, t, ts.URL, "bob", nil)

	var lastID string
	var last seqEvent
	for i := range 3 {
		ev, s := nextSeq(t, dec)
		if i > 0 && s.Seq != last.Seq+1 {
			t.Fatalf("seq %d after %d", s.Seq, last.Seq)
		}
		lastID, last = ev.ID, s
	}
	resp, body := do(ctx, t, http.MethodPost, ts.URL+"/reconnect/drop?client=alice")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /reconnect/drop: status %d %s, want 200", resp.StatusCode, body)
	}
	var dropped struct {
		Dropped int `json:"dropped"`
	}
	decodeStrict(t, body, &dropped)
	if dropped.Dropped != 1 {
		t.Errorf("dropped %d streams, want 1", dropped.Dropped)
	}
	// Events may still come before the error event; then the stream ends.
	for {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("stream ended with %v before an error event", err)
		}
		if ev.Type == "error" {
			var e struct {
				Code   string `json:"code"`
				Reason string `json:"reason"`
			}
			decodeStrict(t, ev.Data, &e)
			if e.Code != "dropped" || !strings.Contains(e.Reason, "dropped") || ev.ID != lastID {
				// The decoder's ID is the last one set: the error event sets none.
				t.Errorf("error event %+v, want code dropped, a reason and no ID of its own", ev)
			}
			break
		}
		var s seqEvent
		decodeStrict(t, ev.Data, &s)
		if s.Seq != last.Seq+1 {
			t.Fatalf("seq %d after %d", s.Seq, last.Seq)
		}
		lastID, last = ev.ID, s
	}
	if ev, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the error event: %+v, %v; want io.EOF", ev, err)
	}

	// The other client's stream goes on; wait until three more events
	// were published after the last one alice got.
	for {
		_, s := nextSeq(t, watch)
		if s.Seq >= last.Seq+3 {
			break
		}
	}
	// Resumed: the history since lastID, then the hub's herald:replayed
	// marker, without an ID, counting it, then live events; no gap.
	dec = openSequence(ctx, t, ts.URL, "alice", http.Header{"Last-Event-ID": {lastID}})
	replayed := 0
	for {
		ev := next(t, dec)
		if ev.Type == hub.TypeReplayed {
			var mark struct {
				Count int `json:"count"`
			}
			decodeStrict(t, ev.Data, &mark)
			if mark.Count != replayed || mark.Count < 3 || ev.ID != lastID {
				t.Errorf("marker %+v after %d replayed events, want their count (at least 3) and no ID of its own", ev, replayed)
			}
			break
		}
		var s seqEvent
		decodeStrict(t, ev.Data, &s)
		if ev.Type != "" || s.Seq != last.Seq+1 || s.Run != last.Run {
			t.Fatalf("resumed with %+v (seq %d, run %s) after %d (run %s), want the next sequence event", ev, s.Seq, s.Run, last.Seq, last.Run)
		}
		lastID, last = ev.ID, s
		replayed++
	}
	for range 3 {
		_, s := nextSeq(t, dec)
		if s.Seq != last.Seq+1 || s.Run != last.Run {
			t.Fatalf("resumed with seq %d (run %s) after %d (run %s), want no gap", s.Seq, s.Run, last.Seq, last.Run)
		}
		last = s
	}
}

// TestReconnectCloseSendsError checks that Close ends the streams with an
// error event that says the server is shutting down.
func TestReconnectCloseSendsError(t *testing.T) {
	opts := fastSequence()
	opts.Hub = newHub(t)
	a, err := apps.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, a.Handler())
	ctx := testCtx(t)
	dec := openSequence(ctx, t, ts.URL, "alice", nil)
	nextSeq(t, dec)
	if err := a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for {
		ev := next(t, dec)
		if ev.Type == "error" {
			if !strings.Contains(ev.Data, `"code":"shutdown"`) {
				t.Errorf("error event %s, want code shutdown", ev.Data)
			}
			break
		}
	}
	if _, err := dec.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the error event: %v, want io.EOF", err)
	}
	resp, body := do(ctx, t, http.MethodGet, ts.URL+"/reconnect/stream?client=alice")
	checkJSONError(t, resp, body, http.StatusServiceUnavailable)
}

// TestReconnectRejects names each bad request of the reconnection demo.
func TestReconnectRejects(t *testing.T) {
	ts := serve(t, newApps(t, fastSequence()).Handler())
	ctx := testCtx(t)
	for _, tc := range []struct {
		name, method, target string
		status               int
	}{
		{"stream without client", http.MethodGet, "/reconnect/stream", http.StatusBadRequest},
		{"stream with empty client", http.MethodGet, "/reconnect/stream?client=", http.StatusBadRequest},
		{"stream with a bad character", http.MethodGet, "/reconnect/stream?client=a%2Fb", http.StatusBadRequest},
		{"stream with a client too long", http.MethodGet, "/reconnect/stream?client=" + strings.Repeat("a", 65), http.StatusBadRequest},
		{"drop without client", http.MethodPost, "/reconnect/drop", http.StatusBadRequest},
		{"drop with a bad character", http.MethodPost, "/reconnect/drop?client=a%20b", http.StatusBadRequest},
		{"drop with a client too long", http.MethodPost, "/reconnect/drop?client=" + strings.Repeat("a", 65), http.StatusBadRequest},
		{"drop of a client with no stream", http.MethodPost, "/reconnect/drop?client=nobody", http.StatusNotFound},
		{"drop with GET", http.MethodGet, "/reconnect/drop?client=alice", http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := do(ctx, t, tc.method, ts.URL+tc.target)
			checkJSONError(t, resp, body, tc.status)
		})
	}
}

// TestSequenceOnHub checks that the sequence is published on the hub's
// SequenceTopic, numbered from 1 with no gap.
func TestSequenceOnHub(t *testing.T) {
	opts := fastSequence()
	opts.Hub = newHub(t)
	newApps(t, opts)
	ctx := testCtx(t)
	sub, err := opts.Hub.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{apps.SequenceTopic}, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	prev := 0
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Topic != apps.SequenceTopic {
			t.Fatalf("topic %q, want %q", ev.Topic, apps.SequenceTopic)
		}
		var s seqEvent
		decodeStrict(t, ev.Data, &s)
		if s.Seq != prev+1 {
			t.Fatalf("seq %d after %d", s.Seq, prev)
		}
		if prev = s.Seq; prev == 5 {
			break
		}
	}
}
