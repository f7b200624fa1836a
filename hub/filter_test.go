package hub_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/heraldsse/herald/hub"
)

// TestAlsoTopics checks events published on several topics (Mercure's
// alternate topics): a subscription matching any of them gets the event
// once, live and replayed, and sees all its topics.
func TestAlsoTopics(t *testing.T) {
	h := newHub(t, hub.Options{})
	first := publish(t, h, "x", "before")
	both, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/a", "m/b"}})
	if err != nil {
		t.Fatal(err)
	}
	onlyB, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/b"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(t.Context(), hub.Message{Topic: "m/a", Also: []string{"m/b", "m/c"}, Data: "1"}); err != nil {
		t.Fatal(err)
	}
	publish(t, h, "m/b", "2")
	for name, sub := range map[string]*hub.Subscription{"m/a and m/b": both, "m/b": onlyB} {
		evs := collect(t, sub, 2)
		if got := fmt.Sprint(datas(evs)); got != "[1 2]" {
			t.Errorf("subscription to %s got %s, want [1 2], each once", name, got)
		}
		if evs[0].Topic != "m/a" || fmt.Sprint(evs[0].Also) != "[m/b m/c]" {
			t.Errorf("subscription to %s: first event on %q also %q, want m/a also [m/b m/c]", name, evs[0].Topic, evs[0].Also)
		}
	}
	replay, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/c"}, LastEventID: first})
	if err != nil {
		t.Fatal(err)
	}
	if ev := collect(t, replay, 1)[0]; ev.Data != "1" {
		t.Errorf("replay of m/c: %+v, want the event published also on it", ev)
	}
	for _, bad := range [][]string{{""}, {"m/*"}, {"ok", "a//b"}} {
		if _, err := h.Publish(t.Context(), hub.Message{Topic: "m/a", Also: bad, Data: "x"}); !errors.Is(err, hub.ErrInvalidTopic) {
			t.Errorf("Publish with Also %q = %v, want ErrInvalidTopic", bad, err)
		}
	}
}

// TestFilterAndPrivate checks a subscription's Filter, live and on replay,
// and that private events reach only subscriptions whose filter accepts
// them: never one without a filter.
func TestFilterAndPrivate(t *testing.T) {
	h := newHub(t, hub.Options{})
	first := publish(t, h, "x", "before")
	msgs := []hub.Message{
		{Topic: "m/a", Data: "public"},
		{Topic: "m/a", Data: "private", Private: true},
		{Topic: "m/a", Also: []string{"m/secret"}, Data: "private, also secret", Private: true},
		{Topic: "m/b", Data: "refused"},
	}
	for _, m := range msgs {
		if _, err := h.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	var asked []string
	filter := func(c *hub.Candidate) bool {
		asked = append(asked, strings.Join(c.Topics, ","))
		if c.Topics[0] == "m/b" {
			return false
		}
		return !c.Private || strings.Join(c.Topics, ",") == "m/a"
	}
	filtered, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/*"}, LastEventID: first, Filter: filter})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/*"}, LastEventID: first})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs { // the same again, live
		if _, err := h.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	publish(t, h, "m/a", "end")
	if got := fmt.Sprint(datas(collect(t, filtered, 5))); got != "[public private public private end]" {
		t.Errorf("filtered subscription got %s, want the public and the accepted private events, replayed then live", got)
	}
	if got := fmt.Sprint(datas(collect(t, plain, 5))); got != "[public refused public refused end]" {
		t.Errorf("subscription without a filter got %s, want no private event", got)
	}
	if len(asked) == 0 || asked[0] != "m/a" {
		t.Errorf("the filter was asked about %q", asked)
	}
}

// TestOwnIDs checks a subscription that sees events by their own IDs
// (Mercure's): the publisher's ID, or a generated URN; it resumes from
// either, and from the earliest event bearing a reused ID.
func TestOwnIDs(t *testing.T) {
	h := newHub(t, hub.Options{})
	pub := func(id, data string) string {
		t.Helper()
		logID, err := h.Publish(t.Context(), hub.Message{Topic: "m/a", ID: id, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return logID
	}
	logID := pub("", "generated")
	pub("urn:uuid:1", "own")
	pub("dup", "first dup")
	pub("x", "between")
	pub("dup", "second dup")
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/*"}, FromStart: true, OwnIDs: true})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range collect(t, sub, 5) {
		got = append(got, ev.ID)
	}
	if want := []string{hub.GeneratedIDPrefix + logID, "urn:uuid:1", "dup", "x", "dup"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("IDs seen = %q, want %q", got, want)
	}

	tests := []struct {
		name, lastID string
		n            int // events replayed
		want         string
		resumed      bool
	}{
		{"generated", hub.GeneratedIDPrefix + logID, 4, "[own first dup between second dup]", true},
		{"own", "urn:uuid:1", 3, "[first dup between second dup]", true},
		{"reused: the earliest", "dup", 2, "[between second dup]", true},
		{"unknown", "nobody", 5, "[generated own first dup between second dup]", false},
		{"a log ID is not an own ID", logID, 5, "[generated own first dup between second dup]", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/*"}, LastEventID: tt.lastID, OwnIDs: true, Quiet: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprint(datas(collect(t, sub, tt.n))); got != tt.want {
				t.Errorf("resume after %q: %s, want %s", tt.lastID, got, tt.want)
			}
			if sub.Resumed() != tt.resumed {
				t.Errorf("Resumed() = %v, want %v", sub.Resumed(), tt.resumed)
			}
		})
	}

	if _, err := h.Publish(t.Context(), hub.Message{Topic: "m/a", ID: "a\nb"}); !errors.Is(err, hub.ErrInvalidMessage) {
		t.Errorf("Publish with an ID holding LF = %v, want ErrInvalidMessage", err)
	}
}

// TestResolveIn checks that a publisher's own ID is found in the history
// of ResolveIn, not only of the subscription's topics: a subscriber to one
// topic resumes right after an event published on another.
func TestResolveIn(t *testing.T) {
	h := newHub(t, hub.Options{})
	for _, m := range []hub.Message{
		{Topic: "m/a", ID: "a1", Data: "a1"},
		{Topic: "m/b", ID: "b1", Data: "b1"},
		{Topic: "m/a", ID: "a2", Data: "a2"},
	} {
		if _, err := h.Publish(t.Context(), m); err != nil {
			t.Fatal(err)
		}
	}
	for _, tt := range []struct {
		name    string
		in      []string
		want    string
		resumed bool
	}{
		{"in the namespace", []string{"m/*"}, "[a2]", true},
		{"in its topics only", nil, "[a1 a2]", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/a"}, LastEventID: "b1", OwnIDs: true, Quiet: true, ResolveIn: tt.in})
			if err != nil {
				t.Fatal(err)
			}
			n := len(strings.Fields(strings.Trim(tt.want, "[]")))
			if got := fmt.Sprint(datas(collect(t, sub, n))); got != tt.want {
				t.Errorf("resume after b1: %s, want %s", got, tt.want)
			}
			if sub.Resumed() != tt.resumed {
				t.Errorf("Resumed() = %v, want %v", sub.Resumed(), tt.resumed)
			}
		})
	}
	if _, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"m/a"}, LastEventID: "b1", OwnIDs: true, ResolveIn: []string{"m/**/x"}}); !errors.Is(err, hub.ErrInvalidTopic) {
		t.Errorf("ResolveIn with an invalid pattern: %v, want ErrInvalidTopic", err)
	}
}
