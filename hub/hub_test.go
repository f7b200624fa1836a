package hub_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

// newHub returns a hub on opts, on a memory log when opts.Log is nil, and
// closes both at the end of the test.
func newHub(t testing.TB, opts hub.Options) *hub.Hub {
	t.Helper()
	if opts.Log == nil {
		l := memory.New(memory.Options{})
		t.Cleanup(func() { l.Close() }) // after the hub's Close, registered below
		opts.Log = l
	}
	h, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return h
}

func publish(t testing.TB, h *hub.Hub, topic, data string) string {
	t.Helper()
	id, err := h.Publish(context.Background(), hub.Message{Topic: topic, Data: data})
	if err != nil {
		t.Fatalf("Publish(%q, %q): %v", topic, data, err)
	}
	return id
}

// collect reads n events from sub, failing the test if the subscription
// ends first or nothing arrives for a long while.
func collect(t testing.TB, sub *hub.Subscription, n int) []hub.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got []hub.Event
	if n == 0 {
		return nil
	}
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			t.Fatalf("after %d of %d events: %v", len(got), n, err)
		}
		got = append(got, ev)
		if len(got) == n {
			break
		}
	}
	return got
}

func datas(evs []hub.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Data)
	}
	return out
}

func TestPublishSubscribe(t *testing.T) {
	h := newHub(t, hub.Options{})
	ctx := t.Context()
	exact, _ := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"chat/lobby"}})
	star, _ := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"chat/*"}})
	rest, _ := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"chat/**"}})
	// Overlapping patterns still deliver each event once.
	overlap, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"chat/lobby", "chat/*", "**", "chat/lobby"}})
	if err != nil {
		t.Fatal(err)
	}

	publish(t, h, "chat/lobby", "1")
	publish(t, h, "chat/other", "2")
	publish(t, h, "chat/a/b", "3")
	publish(t, h, "news", "4")

	for _, tc := range []struct {
		name string
		sub  *hub.Subscription
		want []string
	}{
		{"exact", exact, []string{"1"}},
		{"star", star, []string{"1", "2"}},
		{"doublestar", rest, []string{"1", "2", "3"}},
		{"overlapping", overlap, []string{"1", "2", "3", "4"}},
	} {
		got := datas(collect(t, tc.sub, len(tc.want)))
		if fmt.Sprint(got) != fmt.Sprint(tc.want) {
			t.Errorf("%s: got %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestEventFields(t *testing.T) {
	h := newHub(t, hub.Options{})
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	id, err := h.Publish(t.Context(), hub.Message{Topic: "a", Type: "note", Data: "x\ny", Retry: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ev := collect(t, sub, 1)[0]
	if ev.ID != id || ev.Topic != "a" || ev.Type != "note" || ev.Data != "x\ny" || ev.Retry != 1500*time.Millisecond {
		t.Errorf("got %+v, want id %s topic a type note data x\\ny retry 1.5s", ev, id)
	}
}

func TestPublishRejects(t *testing.T) {
	h := newHub(t, hub.Options{MaxDataSize: 10})
	tests := []struct {
		name string
		msg  hub.Message
		want error
	}{
		{"no topic", hub.Message{}, hub.ErrInvalidTopic},
		{"empty segment", hub.Message{Topic: "a//b"}, hub.ErrInvalidTopic},
		{"wildcard topic", hub.Message{Topic: "a/*"}, hub.ErrInvalidTopic},
		{"control character", hub.Message{Topic: "a\x01"}, hub.ErrInvalidTopic},
		{"type with LF", hub.Message{Topic: "a", Type: "x\ny"}, hub.ErrInvalidMessage},
		{"type with CR", hub.Message{Topic: "a", Type: "x\r"}, hub.ErrInvalidMessage},
		{"reserved type", hub.Message{Topic: "a", Type: hub.TypeGap}, hub.ErrInvalidMessage},
		{"negative retry", hub.Message{Topic: "a", Retry: -1}, hub.ErrInvalidMessage},
		{"data too large", hub.Message{Topic: "a", Data: "01234567890"}, hub.ErrTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.Publish(t.Context(), tt.msg); !errors.Is(err, tt.want) {
				t.Errorf("Publish(%+v) = %v, want %v", tt.msg, err, tt.want)
			}
		})
	}
	if st := h.Stats(); st.Published != 0 {
		t.Errorf("rejected messages were published: %+v", st)
	}
}

func TestSubscribeRejects(t *testing.T) {
	h := newHub(t, hub.Options{MaxTopics: 3})
	tests := []struct {
		name   string
		topics []string
		want   error
	}{
		{"no topics", nil, hub.ErrTooManyTopics},
		{"too many topics", []string{"a", "b", "c", "d"}, hub.ErrTooManyTopics},
		{"double star not last", []string{"a/**/b"}, hub.ErrInvalidTopic},
		{"empty pattern", []string{""}, hub.ErrInvalidTopic},
		{"star inside segment", []string{"a*"}, hub.ErrInvalidTopic},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: tt.topics}); !errors.Is(err, tt.want) {
				t.Errorf("Subscribe(%q) = %v, want %v", tt.topics, err, tt.want)
			}
		})
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("rejected subscriptions left %d subscribers", n)
	}
}

func TestReplayAfterLastEventID(t *testing.T) {
	h := newHub(t, hub.Options{})
	var ids []string
	for i := range 10 {
		topic := "a"
		if i%2 == 1 {
			topic = "b"
		}
		ids = append(ids, publish(t, h, topic, strconv.Itoa(i)))
	}
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: ids[3]})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, h, "a", "10")
	got := datas(collect(t, sub, 4))
	if want := []string{"4", "6", "8", "10"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("replay after %s = %q, want %q", ids[3], got, want)
	}
}

func TestFromStart(t *testing.T) {
	h := newHub(t, hub.Options{})
	publish(t, h, "tasks/1", "10")
	publish(t, h, "tasks/2", "x")
	publish(t, h, "tasks/1", "20")
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"tasks/1"}, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := datas(collect(t, sub, 2)); fmt.Sprint(got) != "[10 20]" {
		t.Errorf("FromStart replay = %q, want [10 20]", got)
	}
}

func TestGap(t *testing.T) {
	log := memory.New(memory.Options{Retention: store.Retention{MaxEntries: 5}})
	h := newHub(t, hub.Options{Log: log})
	// Publish in step with a reader, so the hub's follower is never more
	// than the log's five entries behind (which would be an overrun).
	pace, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	first := publish(t, h, "a", "0")
	collect(t, pace, 1)
	for i := 1; i < 10; i++ {
		publish(t, h, "a", strconv.Itoa(i))
		collect(t, pace, 1)
	}
	// An ID from an earlier run of the log: its epoch (creation time)
	// differs.
	foreign := mustParse(t, first)
	foreign.Major -= uint64(time.Hour.Milliseconds())
	tests := []struct {
		name, lastID, reason string
	}{
		{"not an id", "hello", "unknown"},
		{"empty-looking id", "-", "unknown"},
		{"another epoch", foreign.String(), "unknown"},
		{"evicted", first, "evicted"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: tt.lastID})
			if err != nil {
				t.Fatalf("Subscribe with Last-Event-ID %q: %v (want a gap, not an error)", tt.lastID, err)
			}
			defer sub.Close()
			evs := collect(t, sub, 6)
			if evs[0].Type != hub.TypeGap {
				t.Fatalf("first event = %+v, want type %s", evs[0], hub.TypeGap)
			}
			var gap struct{ LastEventID, Reason string }
			if err := json.Unmarshal([]byte(evs[0].Data), &gap); err != nil {
				t.Fatal(err)
			}
			if gap.LastEventID != tt.lastID || gap.Reason != tt.reason {
				t.Errorf("gap = %+v, want lastEventId %q reason %q", gap, tt.lastID, tt.reason)
			}
			if got := datas(evs[1:]); fmt.Sprint(got) != "[5 6 7 8 9]" {
				t.Errorf("after the gap got %q, want what history holds: [5 6 7 8 9]", got)
			}
		})
	}
}

// TestReplaySeamUnderConcurrentPublishes subscribes with a last event ID
// while publishers race, and checks that the subscriber gets exactly the
// log's events after that ID, in log order: no gap, no duplicate.
func TestReplaySeamUnderConcurrentPublishes(t *testing.T) {
	for round := range 20 {
		t.Run(strconv.Itoa(round), func(t *testing.T) {
			log := memory.New(memory.Options{})
			h := newHub(t, hub.Options{Log: log, QueueSize: 100_000})
			start := publish(t, h, "t/0", "start")
			const publishers, each = 4, 200
			var wg sync.WaitGroup
			for p := range publishers {
				wg.Go(func() {
					for i := range each {
						if _, err := h.Publish(context.Background(), hub.Message{Topic: "t/" + strconv.Itoa(p), Data: strconv.Itoa(i)}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"t/*"}, LastEventID: start})
			if err != nil {
				t.Fatal(err)
			}
			wg.Wait()
			got := collect(t, sub, publishers*each)
			var want []string
			for after := mustParse(t, start); ; {
				p, err := log.Read(t.Context(), after, store.Query{Patterns: []string{"**"}})
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range p.Entries {
					want = append(want, e.ID.String())
				}
				if p.Done {
					break
				}
				after = p.Next
			}
			for i, ev := range got {
				if i >= len(want) || ev.ID != want[i] {
					t.Fatalf("event %d: id %s, want %s (log order)", i, ev.ID, want[min(i, len(want)-1)])
				}
			}
			// Nothing more: a duplicate would show up as an extra event.
			publish(t, h, "t/0", "end")
			if last := collect(t, sub, 1)[0]; last.Data != "end" {
				t.Errorf("after the seam got extra event %+v, want the new one", last)
			}
		})
	}
}

func TestSlowSubscriberIsCutOffOthersKeepPace(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 8})
	slow, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	fast, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	ctx := t.Context()
	received := make(chan int, 100)
	go func() {
		for ev, err := range fast.Events(ctx) {
			if err != nil {
				return
			}
			n, _ := strconv.Atoi(ev.Data)
			received <- n
		}
	}()
	for i := range 50 {
		publish(t, h, "a", strconv.Itoa(i)) // never blocks on the slow one
		if got := <-received; got != i {
			t.Fatalf("fast subscriber got %d, want %d", got, i)
		}
	}
	select {
	case <-slow.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("slow subscriber was not disconnected")
	}
	if err := slow.Err(); !errors.Is(err, hub.ErrSlowSubscriber) {
		t.Errorf("slow.Err() = %v, want ErrSlowSubscriber", err)
	}
	if st := h.Stats(); st.SlowDisconnects != 1 {
		t.Errorf("SlowDisconnects = %d, want 1", st.SlowDisconnects)
	}
}

func TestCloseDeliversInFlightThenEnds(t *testing.T) {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(hub.Options{Log: log})
	if err != nil {
		t.Fatal(err)
	}
	sub, _ := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	for i := range 100 {
		publish(t, h, "a", strconv.Itoa(i))
	}
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := log.Ping(t.Context()); err != nil {
		t.Errorf("log after the hub's Close: %v; the hub must leave it open for its owner", err)
	}
	var n int
	for _, err := range sub.Events(t.Context()) {
		if err != nil {
			if !errors.Is(err, hub.ErrClosed) {
				t.Errorf("subscription ended with %v, want ErrClosed", err)
			}
			break
		}
		n++
	}
	if n != 100 {
		t.Errorf("got %d events before the end, want all 100 published before Close", n)
	}
	if _, err := h.Publish(t.Context(), hub.Message{Topic: "a"}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Publish after Close = %v, want ErrClosed", err)
	}
	if _, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}}); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("Subscribe after Close = %v, want ErrClosed", err)
	}
}

func TestSubscriptionEndsWithContext(t *testing.T) {
	h := newHub(t, hub.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	sub, _ := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"a"}})
	if n := h.Stats().Subscribers; n != 1 {
		t.Fatalf("Subscribers = %d, want 1", n)
	}
	cancel()
	<-sub.Done()
	if !errors.Is(sub.Err(), hub.ErrUnsubscribed) {
		t.Errorf("Err() = %v, want ErrUnsubscribed", sub.Err())
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("Subscribers after cancel = %d, want 0", n)
	}
}

// TestNewNeedsLog checks that a hub is not made without a log: the caller
// chooses and owns the store.
func TestNewNeedsLog(t *testing.T) {
	h, err := hub.New(hub.Options{QueueSize: 10})
	if err == nil || h != nil || !strings.Contains(err.Error(), "Options.Log") {
		t.Errorf("New without a Log = %v, %v; want no hub and an error naming Options.Log", h, err)
	}
}

// TestLogUnavailable checks that a log that cannot serve (here, closed
// under the hub) makes Publish and a resuming Subscribe fail with errors
// that are ErrUnavailable and still the log's own, and that other errors
// are not.
func TestLogUnavailable(t *testing.T) {
	log := memory.New(memory.Options{})
	h := newHub(t, hub.Options{Log: log})
	if err := log.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: "x"})
	if !errors.Is(err, hub.ErrUnavailable) || !errors.Is(err, store.ErrClosed) {
		t.Errorf("Publish on a closed log = %v, want an error wrapping ErrUnavailable and store.ErrClosed", err)
	}
	_, err = h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}, LastEventID: "1-1"})
	if !errors.Is(err, hub.ErrUnavailable) || !errors.Is(err, store.ErrClosed) {
		t.Errorf("Subscribe with a last event ID on a closed log = %v, want an error wrapping ErrUnavailable and store.ErrClosed", err)
	}
	if _, err := h.Publish(t.Context(), hub.Message{Topic: "a//b"}); errors.Is(err, hub.ErrUnavailable) {
		t.Errorf("Publish to a bad topic = %v, which is not ErrUnavailable", err)
	}
}
