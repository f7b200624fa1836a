package hub_test

import (
	"context"
	"fmt"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store/memory"
)

func ExampleHub_Subscribe() {
	// The hub runs on a log its caller opens, and closes after the hub.
	log := memory.New(memory.Options{})
	defer log.Close()
	h, err := hub.New(hub.Options{Log: log})
	if err != nil {
		panic(err)
	}
	defer h.Close(context.Background())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	first, _ := h.Publish(ctx, hub.Message{Topic: "chat/lobby", Data: "before"})

	// Resume after the first event: history first, then live events.
	sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{"chat/*"}, LastEventID: first})
	if err != nil {
		panic(err)
	}
	h.Publish(ctx, hub.Message{Topic: "chat/lobby", Data: "missed while away"})
	h.Publish(ctx, hub.Message{Topic: "news", Data: "not for this subscriber"})
	h.Publish(ctx, hub.Message{Topic: "chat/kitchen", Type: "message", Data: "live"})

	n := 0
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s %s: %s\n", ev.Topic, ev.Type, ev.Data)
		if n++; n == 2 {
			break
		}
	}
	// Output:
	// chat/lobby : missed while away
	// chat/kitchen message: live
}
