package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

func ExampleNew() {
	l := memory.New(memory.Options{MaxEntries: 1000, MaxAge: 10 * time.Minute})
	defer l.Close()
	ctx := context.Background()

	var ids []string
	for _, data := range []string{"hello", "world", "again"} {
		e, err := l.Append(ctx, "chat/lobby", sse.Event{Type: "message", Data: data})
		if err != nil {
			fmt.Println(err)
			return
		}
		ids = append(ids, e.ID.String())
	}

	// A client that saw the first event reconnects with its ID.
	lastEventID, err := store.ParseID(ids[0])
	if err != nil {
		fmt.Println(err)
		return
	}
	for e, err := range l.After(ctx, lastEventID) {
		if err != nil {
			fmt.Println(err)
			return
		}
		// An ID is "epoch-n": the log's creation time in Unix
		// milliseconds, then the entry's number.
		fmt.Println(e.ID.Minor, e.Topic, e.Event.Data)
	}

	// An ID from an earlier run of the server has another epoch.
	earlier := store.ID{Major: lastEventID.Major - 60_000, Minor: 2}
	for _, err := range l.After(ctx, earlier) {
		fmt.Println(errors.Is(err, store.ErrUnknownID))
	}
	// Output:
	// 2 chat/lobby world
	// 3 chat/lobby again
	// true
}

func ExampleLog_Follow() {
	l := memory.New(memory.Options{})
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	l.Append(ctx, "tasks/1", sse.Event{Data: `{"progress":0}`}) // before Follow: not followed
	updates := l.Follow(ctx)                                    // the starting point is fixed here
	l.Append(ctx, "tasks/1", sse.Event{Data: `{"progress":50}`})
	l.Append(ctx, "tasks/1", sse.Event{Data: `{"progress":100}`})

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
