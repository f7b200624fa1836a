package hub_test

import (
	"iter"
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

func pull[K, V any](seq func(func(K, V) bool)) (func() (K, V, bool), func()) {
	return iter.Pull2(iter.Seq2[K, V](seq))
}
