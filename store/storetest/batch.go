package storetest

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// RunBatch runs the tests of [store.BatchAppender] as subtests of t, on
// the logs newLog returns (empty, released by newLog's t.Cleanup).
func RunBatch(t *testing.T, newLog func(t *testing.T) store.Log) {
	t.Helper()
	for _, tc := range []struct {
		name string
		test func(*testing.T, store.BatchAppender)
	}{
		{"batch_is_stored_in_order_and_followed_in_order", testBatchOrder},
		{"batches_and_appends_at_once_never_interleave", testBatchContiguous},
		{"batch_of_the_wrong_size_is_refused", testBatchSize},
		{"batch_with_done_context_stores_nothing", testBatchDoneContext},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLog(t)
			b, ok := l.(store.BatchAppender)
			if !ok {
				t.Fatalf("%T is not a store.BatchAppender", l)
			}
			tc.test(t, b)
		})
	}
}

// batchOf is n entries on topics t/0, t/1, … with data prefix/0, prefix/1, ….
func batchOf(prefix string, n int) []store.Entry {
	es := make([]store.Entry, n)
	for i := range es {
		es[i] = store.Entry{Topic: "t/" + strconv.Itoa(i%3), Also: []string{"all"}, Event: sse.Event{Data: prefix + "/" + strconv.Itoa(i)}}
	}
	return es
}

func testBatchOrder(t *testing.T, b store.BatchAppender) {
	l := b.(store.Log)
	f := startFollow(t, l)
	in := batchOf("b", store.MaxBatch)
	out, err := b.AppendBatch(t.Context(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("AppendBatch returned %d entries for %d", len(out), len(in))
	}
	for i := range out {
		if out[i].Topic != in[i].Topic || out[i].Event.Data != in[i].Event.Data || len(out[i].Also) != 1 {
			t.Fatalf("entry %d = %s, want the batch's %d-th", i, show(out[i]), i)
		}
		if i > 0 && out[i].ID.Compare(out[i-1].ID) <= 0 {
			t.Fatalf("entry %d has ID %s, not after %s", i, out[i].ID, out[i-1].ID)
		}
	}
	checkEntries(t, "Follow", f.take(t, len(out)), out)
	checkEntries(t, "Read from the start", kept(t, l, store.ID{}, "t/*"), out)
}

// testBatchContiguous appends 4 batches of 50 while 4 goroutines append
// one by one: each batch's entries are consecutive in the log.
func testBatchContiguous(t *testing.T, b store.BatchAppender) {
	l := b.(store.Log)
	const batches, size, singles = 4, 50, 200
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, batches+4)
	for i := range batches {
		wg.Go(func() {
			if _, err := b.AppendBatch(ctx, batchOf("batch"+strconv.Itoa(i), size)); err != nil {
				errs <- err
			}
		})
	}
	for w := range 4 {
		wg.Go(func() {
			for i := range singles / 4 {
				if _, err := l.Append(ctx, store.Entry{Topic: "t/x", Event: sse.Event{Data: fmt.Sprintf("single%d/%d", w, i)}}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	within(t, "batches and appends at once", func() struct{} { wg.Wait(); return struct{}{} })
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := kept(t, l, store.ID{}, "t/*")
	if len(all) != batches*size+singles {
		t.Fatalf("the log holds %d entries, want %d", len(all), batches*size+singles)
	}
	for i := 0; i < len(all); i++ {
		prefix, _, _ := strings.Cut(all[i].Event.Data, "/")
		if !strings.HasPrefix(prefix, "batch") {
			continue
		}
		for j := range size {
			if got := all[i+j].Event.Data; got != prefix+"/"+strconv.Itoa(j) {
				t.Fatalf("entry %d of %s is %q: a batch's entries are not consecutive in the log", j, prefix, got)
			}
		}
		i += size - 1
	}
}

func testBatchSize(t *testing.T, b store.BatchAppender) {
	for _, n := range []int{0, store.MaxBatch + 1} {
		if _, err := b.AppendBatch(t.Context(), batchOf("x", n)); err == nil {
			t.Errorf("AppendBatch of %d entries succeeded, want an error", n)
		}
	}
	if got := kept(t, b.(store.Log), store.ID{}, "t/*"); len(got) != 0 {
		t.Errorf("refused batches stored %d entries", len(got))
	}
}

func testBatchDoneContext(t *testing.T, b store.BatchAppender) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := b.AppendBatch(ctx, batchOf("x", 3))
	wantErr(t, "AppendBatch with a done context", err, context.Canceled)
	if got := kept(t, b.(store.Log), store.ID{}, "t/*"); len(got) != 0 {
		t.Errorf("AppendBatch with a done context stored %d entries", len(got))
	}
}
