package memory_test

import (
	"context"
	"fmt"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

func ExampleNew() {
	l := memory.New(memory.Options{Retention: store.Retention{
		// The ticker keeps its newest 2 ticks; every other topic 1,000
		// events for 10 minutes.
		Policies:   []store.Policy{{Pattern: "stocks/*", MaxEntries: 2}},
		MaxEntries: 1000,
		MaxAge:     10 * time.Minute,
	}})
	defer l.Close()
	ctx := context.Background()

	hello, _ := l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: sse.Event{Data: "hello"}})
	for _, price := range []string{"10", "11", "12", "13"} {
		l.Append(ctx, store.Entry{Topic: "stocks/ACME", Event: sse.Event{Data: price}})
	}
	l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: sse.Event{Data: "again"}})

	// A chat client that saw "hello" reconnects with its ID: the ticker's
	// noise cost it nothing.
	page, err := l.Read(ctx, hello.ID, store.Query{Patterns: []string{"chat/*"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range page.Entries {
		fmt.Println(e.Topic, e.Event.Data)
	}
	fmt.Println("evicted:", page.Evicted)

	// A client of every topic lost two ticks.
	page, _ = l.Read(ctx, hello.ID, store.Query{Patterns: []string{"**"}})
	for _, e := range page.Entries {
		fmt.Println(e.Topic, e.Event.Data)
	}
	fmt.Println("evicted:", page.Evicted)
	// Output:
	// chat/lobby again
	// evicted: false
	// stocks/ACME 12
	// stocks/ACME 13
	// chat/lobby again
	// evicted: true
}

func ExampleLog_Follow() {
	l := memory.New(memory.Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	l.Append(ctx, store.Entry{Topic: "tasks/1", Event: sse.Event{Data: `{"progress":0}`}}) // before Follow: not followed
	updates := l.Follow(ctx)                                                               // the starting point is fixed here
	l.Append(ctx, store.Entry{Topic: "tasks/1", Event: sse.Event{Data: `{"progress":50}`}})
	l.Append(ctx, store.Entry{Topic: "tasks/1", Event: sse.Event{Data: `{"progress":100}`}})

	for e, err := range updates {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(e.Topic, e.Event.Data)
		if e.Event.Data == `{"progress":100}` {
			break
		}
	}
	// Output:
	// tasks/1 {"progress":50}
	// tasks/1 {"progress":100}
}
