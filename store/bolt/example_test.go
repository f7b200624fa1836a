package bolt_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
)

func ExampleOpen() {
	dir, err := os.MkdirTemp("", "herald-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "events.db")
	opts := bolt.Options{Retention: store.Retention{MaxEntries: 100_000, MaxAge: 24 * time.Hour}}
	ctx := context.Background()

	l, err := bolt.Open(path, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	var last store.ID
	for _, data := range []string{"hello", "world"} {
		e, err := l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: sse.Event{Type: "message", Data: data}})
		if err != nil {
			fmt.Println(err)
			return
		}
		last = e.ID
	}
	l.Close()

	// After a restart, IDs go on where they stopped, and a client's last
	// ID still resumes.
	l, err = bolt.Open(path, opts)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	if _, err := l.Append(ctx, store.Entry{Topic: "chat/lobby", Event: sse.Event{Type: "message", Data: "again"}}); err != nil {
		fmt.Println(err)
		return
	}
	// An ID is "epoch-n": the file's creation time in Unix milliseconds,
	// kept for good, then the entry's number.
	fmt.Println("client resumes after event", last.Minor)
	page, err := l.Read(ctx, last, store.Query{Patterns: []string{"chat/*"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, e := range page.Entries {
		fmt.Println(e.ID.Major == last.Major, e.ID.Minor, e.Topic, e.Event.Data)
	}
	// Output:
	// client resumes after event 2
	// true 3 chat/lobby again
}
