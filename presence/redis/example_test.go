package redis_test

import (
	"context"
	"log"

	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/presence/redis"
)

// Every node of a cluster opens a registry on the same Redis and prefix; a
// hub watches it to announce the subscriptions of dead nodes as ended.
func ExampleNew() {
	ctx := context.Background()
	reg, err := redis.New(ctx, redis.Options{URL: "redis://localhost:6379/0"})
	if err != nil {
		log.Fatal(err) // wraps store.ErrUnavailable when Redis does not answer
	}
	defer reg.Close(ctx) // goodbye: this node's records go at once

	stop := reg.Watch(func(c presence.Change) {
		if !c.Active {
			log.Printf("%s left (node %s died)", c.Subscription.ID, c.Subscription.Node)
		}
	})
	defer stop()

	sub, err := reg.Join(presence.Subscription{
		ID:     presence.NewID(),
		Topics: []presence.Matcher{{Kind: presence.KindHerald, Value: "chat/lobby"}},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer reg.Leave(sub.ID)
}
