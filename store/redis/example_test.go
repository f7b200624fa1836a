package redis_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/redis"
)

// ExampleNew opens the shared log of a group of herald nodes, whose stock
// ticker keeps a short history and chat a long one. It needs a Redis
// server, so it is compiled but not run.
func ExampleNew() {
	ctx := context.Background()
	l, err := redis.New(ctx, redis.Options{
		URL:    "redis://localhost:6379/0",
		Stream: "herald:events",
		Retention: store.Retention{Policies: []store.Policy{
			{Pattern: "stocks/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
			{Pattern: "chat/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
		}},
	})
	if err != nil {
		log.Fatal(err) // wraps store.ErrUnavailable when Redis does not answer
	}
	defer l.Close()

	e, err := l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: sse.Event{Data: "hello"}})
	if err != nil {
		log.Fatal(err)
	}
	// Every node following the stream sees the entry once, with this ID.
	fmt.Println(e.ID)
}
