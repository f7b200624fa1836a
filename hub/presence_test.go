package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/store/memory"
)

// announce is a PresenceEvents that publishes one event per change on
// "who/<first topic>", its data the change.
func announce(s presence.Subscription, active bool) []hub.Message {
	data, _ := json.Marshal(map[string]any{"id": s.ID, "active": active, "payload": s.Payload})
	return []hub.Message{{Topic: "who/" + s.Topics[0].Value, Type: "herald:presence", Data: string(data)}}
}

// TestPresence checks the hub's side of presence: an announced
// subscription gets a subscriber ID of the hub's, is in the registry while
// it lasts, and its join and leave are published, in order, also when the
// hub closes; one not announced is in no registry.
func TestPresence(t *testing.T) {
	reg, err := presence.NewMemory(presence.MemoryOptions{Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(hub.Options{Log: log, Presence: reg, PresenceEvents: announce})
	if err != nil {
		t.Fatal(err)
	}
	watcher, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"who/**"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"room"}, Presence: &hub.Announce{Payload: json.RawMessage(`{"user":"ann"}`)}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"room"}, Presence: &hub.Announce{}})
	if err != nil {
		t.Fatal(err)
	}
	quiet, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"room"}})
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == "" || b.ID() == "" || a.ID() == b.ID() || quiet.ID() != "" {
		t.Fatalf("IDs %q, %q and (not announced) %q: want two distinct IDs and none", a.ID(), b.ID(), quiet.ID())
	}
	if got, err := reg.Get(t.Context(), a.ID()); err != nil || string(got.Payload) != `{"user":"ann"}` || got.Topics[0] != (presence.Matcher{Kind: presence.KindHerald, Value: "room"}) {
		t.Errorf("registry has %+v, %v for a", got, err)
	}
	if c, _ := reg.Count(t.Context()); c.Node != 2 {
		t.Errorf("registry counts %d, want the 2 announced subscriptions", c.Node)
	}
	a.Close()
	want := []string{
		fmt.Sprintf(`{"active":true,"id":%q,"payload":{"user":"ann"}}`, a.ID()),
		fmt.Sprintf(`{"active":true,"id":%q,"payload":null}`, b.ID()),
		fmt.Sprintf(`{"active":false,"id":%q,"payload":{"user":"ann"}}`, a.ID()),
	}
	for i, ev := range collect(t, watcher, 3) {
		if ev.Type != "herald:presence" || ev.Data != want[i] {
			t.Errorf("event %d = %s %s, want herald:presence %s", i, ev.Type, ev.Data, want[i])
		}
	}
	if _, err := reg.Get(t.Context(), a.ID()); err == nil {
		t.Error("a closed subscription is still in the registry")
	}

	// Closing the hub announces the leaves of the subscriptions it ends,
	// before its log may close.
	bLeft := fmt.Sprintf(`{"active":false,"id":%q,"payload":null}`, b.ID())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	follow := log.Follow(ctx)
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	found := false
	for e, err := range follow {
		if err != nil {
			t.Fatal(err)
		}
		if found = e.Event.Data == bLeft; found {
			break
		}
	}
	if !found {
		t.Errorf("the log holds no %s after Close", bLeft)
	}
	if c, _ := reg.Count(t.Context()); c.Node != 0 {
		t.Errorf("after Close the registry counts %d", c.Node)
	}
}
