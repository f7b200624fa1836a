package hub_test

import (
	"testing"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

func sseEvent(data string) sse.Event { return sse.Event{Data: data} }

func mustParse(t testing.TB, id string) store.ID {
	t.Helper()
	v, err := store.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	return v
}
