package hub_test

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store/memory"
)

// TestReplayInPagesThenLive resumes from the first of a long history, much
// longer than a page, and checks that every later event comes once, in
// order, then the herald:replayed marker with the count, then live events.
// (An event published before the replay caught up is history by then.)
func TestReplayInPagesThenLive(t *testing.T) {
	h := newHub(t, hub.Options{})
	first := publish(t, h, "a", "0")
	const n = 1000
	for i := 1; i <= n; i++ {
		publish(t, h, "a", strconv.Itoa(i))
		publish(t, h, "other", "x") // pages skip what does not match
	}
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: first, MarkReplayed: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, sub, n+1)
	publish(t, h, "a", "live")
	evs = append(evs, collect(t, sub, 1)...)
	for i := range n {
		if evs[i].Data != strconv.Itoa(i+1) {
			t.Fatalf("event %d = %q, want %d", i, evs[i].Data, i+1)
		}
	}
	if m := evs[n]; m.Type != hub.TypeReplayed || m.Data != fmt.Sprintf(`{"count":%d}`, n) || m.ID != "" {
		t.Errorf("after the history: %+v, want %s with count %d and no ID", m, hub.TypeReplayed, n)
	}
	if evs[n+1].Data != "live" {
		t.Errorf("after the marker: %+v, want the live event", evs[n+1])
	}
	if got := sub.Replayed(); got != n {
		t.Errorf("Replayed() = %d, want %d", got, n)
	}
}

// TestReplayingReaderIsNotASlowSubscriber checks that a client catching up
// on history is not cut off for the live events that arrive meanwhile,
// however many more than its queue holds: they are read from history once
// it gets there, in order, each once.
func TestReplayingReaderIsNotASlowSubscriber(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 5})
	first := publish(t, h, "a", "0")
	for i := 1; i <= 300; i++ {
		publish(t, h, "a", strconv.Itoa(i))
	}
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: first})
	if err != nil {
		t.Fatal(err)
	}
	// 200 live events while the reader reads nothing: 40 times its queue.
	for i := 301; i <= 500; i++ {
		publish(t, h, "a", strconv.Itoa(i))
	}
	if err := sub.Err(); err != nil {
		t.Fatalf("a replaying subscriber ended with %v", err)
	}
	evs := collect(t, sub, 500)
	for i, ev := range evs {
		if ev.Data != strconv.Itoa(i+1) {
			t.Fatalf("event %d = %q, want %d", i, ev.Data, i+1)
		}
	}
	// Now live: its queue bounds it again.
	publish(t, h, "a", "501")
	if ev := collect(t, sub, 1)[0]; ev.Data != "501" {
		t.Errorf("live after the replay: %q, want 501", ev.Data)
	}
	if n := h.Stats().SlowDisconnects; n != 0 {
		t.Errorf("SlowDisconnects = %d, want 0", n)
	}
}

// TestReplayFromStartMarked checks FromStart with MarkReplayed: a program
// reading a topic's history knows where it ends, empty or not.
func TestReplayFromStartMarked(t *testing.T) {
	h := newHub(t, hub.Options{})
	empty, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"none"}, FromStart: true, MarkReplayed: true})
	if err != nil {
		t.Fatal(err)
	}
	if ev := collect(t, empty, 1)[0]; ev.Type != hub.TypeReplayed || ev.Data != `{"count":0}` {
		t.Errorf("empty history: %+v, want the marker with count 0", ev)
	}
	publish(t, h, "t", "1")
	publish(t, h, "t", "2")
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"t"}, FromStart: true, MarkReplayed: true})
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, sub, 3)
	if got := fmt.Sprint(datas(evs)); got != `[1 2 {"count":2}]` {
		t.Errorf("FromStart: %s, want the two events and the marker", got)
	}
}

// TestReplayGapMidway checks a reader so slow that history is evicted
// under it between two pages: it gets a herald:gap where events were lost,
// naming the last event it was sent, then what history still holds.
func TestReplayGapMidway(t *testing.T) {
	log := memory.New(memory.Options{MaxEntries: 100})
	h := newHub(t, hub.Options{Log: log})
	// Publish in step with a live reader, so the hub's follower is never
	// lapped by the small log (an overrun, which is another test's).
	pace, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	paced := func(data string) string {
		id := publish(t, h, "a", data)
		collect(t, pace, 1)
		return id
	}
	var ids []string
	for i := range 100 {
		ids = append(ids, paced(strconv.Itoa(i)))
	}
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: ids[0]})
	if err != nil {
		t.Fatal(err)
	}
	// Subscribe read the first page (16 events, 1 to 16). Before the reader
	// takes it, 150 more events evict everything it has not read.
	for i := 100; i < 250; i++ {
		paced(strconv.Itoa(i))
	}
	evs := collect(t, sub, 16+1+100)
	for i := range 16 {
		if evs[i].Data != strconv.Itoa(i+1) {
			t.Fatalf("event %d = %q, want %d", i, evs[i].Data, i+1)
		}
	}
	gap := evs[16]
	var g struct{ LastEventID, Reason string }
	if gap.Type != hub.TypeGap || json.Unmarshal([]byte(gap.Data), &g) != nil || g.LastEventID != ids[16] || g.Reason != "evicted" {
		t.Fatalf("after the first page: %+v, want herald:gap after %s, evicted", gap, ids[16])
	}
	for i, ev := range evs[17:] {
		if ev.Data != strconv.Itoa(150+i) {
			t.Fatalf("after the gap, event %d = %q, want %d", i, ev.Data, 150+i)
		}
	}
}
