package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/tasks"
)

func setup(t *testing.T, opts tasks.Options) (*hub.Hub, *tasks.Runner) {
	t.Helper()
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	opts.Hub = h
	r, err := tasks.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := r.Close(ctx); err != nil {
			t.Error(err)
		}
		if err := h.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return h, r
}

// states subscribes to a task's topic from the start and returns its
// states up to and including the first final one.
func states(t *testing.T, h *hub.Hub, id string) []tasks.Progress {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	sub, err := h.Subscribe(ctx, hub.SubscribeRequest{Topics: []string{tasks.Topic(id)}, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var out []tasks.Progress
	for ev, err := range sub.Events(ctx) {
		if err != nil {
			t.Fatalf("after %v: %v", out, err)
		}
		p, err := tasks.ParseProgress(ev.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
		if p.Status.Finished() {
			break
		}
	}
	return out
}

func TestTaskLifecycle(t *testing.T) {
	h, r := setup(t, tasks.Options{})
	id, err := r.Start(t.Context(), func(ctx context.Context, report func(int)) error {
		for p := 25; p < 100; p += 25 {
			report(p)
			report(p) // repeated values are published once
		}
		report(250) // clamped
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !tasks.ValidID(id) {
		t.Errorf("Start returned ID %q that ValidID rejects", id)
	}
	got := fmt.Sprint(states(t, h, id))
	want := "[{queued 0 } {running 0 } {running 25 } {running 50 } {running 75 } {running 100 } {completed 100 }]"
	if got != want {
		t.Errorf("states = %s\nwant %s", got, want)
	}
}

func TestProgressJSONMatchesTutorial(t *testing.T) {
	b, _ := tasks.Progress{Status: tasks.Running, Progress: 40}.MarshalJSON()
	if string(b) != `{"status": "running", "progress": 40}` {
		t.Errorf("MarshalJSON = %s", b)
	}
	b, _ = tasks.Progress{Status: tasks.Failed, Progress: 10, Error: `disk "full"`}.MarshalJSON()
	if p, err := tasks.ParseProgress(string(b)); err != nil || p.Error != `disk "full"` || p.Status != tasks.Failed {
		t.Errorf("round trip of %s = %+v, %v", b, p, err)
	}
}

func TestFailedTask(t *testing.T) {
	h, r := setup(t, tasks.Options{})
	id, _ := r.Start(t.Context(), func(ctx context.Context, report func(int)) error {
		report(30)
		return errors.New("out of paper")
	})
	s := states(t, h, id)
	if last := s[len(s)-1]; last.Status != tasks.Failed || last.Progress != 30 || last.Error != "out of paper" {
		t.Errorf("final state %+v, want failed at 30 with the error", last)
	}
}

func TestCancel(t *testing.T) {
	h, r := setup(t, tasks.Options{})
	started := make(chan struct{})
	var cause error
	id, _ := r.Start(t.Context(), func(ctx context.Context, report func(int)) error {
		report(50)
		close(started)
		<-ctx.Done()
		cause = context.Cause(ctx)
		return ctx.Err()
	})
	<-started
	if err := r.Cancel(id); err != nil {
		t.Fatal(err)
	}
	s := states(t, h, id)
	if last := s[len(s)-1]; last.Status != tasks.Cancelled || last.Progress != 50 {
		t.Errorf("final state %+v, want cancelled at 50", last)
	}
	if !errors.Is(cause, tasks.ErrCancelled) {
		t.Errorf("task's context cause = %v, want ErrCancelled", cause)
	}
	if err := r.Cancel(id); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("Cancel of a finished task = %v, want ErrNotFound", err)
	}
	if err := r.Cancel("nope"); !errors.Is(err, tasks.ErrNotFound) {
		t.Errorf("Cancel(unknown) = %v, want ErrNotFound", err)
	}
}

func TestConcurrencyLimitQueues(t *testing.T) {
	h, r := setup(t, tasks.Options{Concurrency: 1, MaxTasks: 2})
	release := make(chan struct{})
	block := func(ctx context.Context, report func(int)) error {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}
	first, _ := r.Start(t.Context(), block)
	second, _ := r.Start(t.Context(), block)
	if _, err := r.Start(t.Context(), block); !errors.Is(err, tasks.ErrTooMany) {
		t.Errorf("third Start with MaxTasks 2 = %v, want ErrTooMany", err)
	}
	// The second waits queued while the first holds the only slot; once
	// released, both complete, the second running only after the first.
	close(release)
	for _, id := range []string{first, second} {
		s := states(t, h, id)
		if s[0].Status != tasks.Queued || s[len(s)-1].Status != tasks.Completed {
			t.Errorf("task %s states %v, want queued ... completed", id, s)
		}
	}
}

func TestCloseCancelsTasks(t *testing.T) {
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	r, _ := tasks.New(tasks.Options{Hub: h})
	running := make(chan struct{})
	id, _ := r.Start(t.Context(), func(ctx context.Context, report func(int)) error {
		close(running)
		<-ctx.Done()
		return ctx.Err()
	})
	<-running
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	s := states(t, h, id)
	if s[len(s)-1].Status != tasks.Cancelled {
		t.Errorf("after Close, final state %v, want cancelled", s[len(s)-1])
	}
	if _, err := r.Start(t.Context(), nil); !errors.Is(err, tasks.ErrClosed) {
		t.Errorf("Start after Close = %v, want ErrClosed", err)
	}
}

func TestValidID(t *testing.T) {
	for id, want := range map[string]bool{"ABC123": true, "": false, "a/b": false, "a b": false, "x*": false, string(make([]byte, 65)): false} {
		if got := tasks.ValidID(id); got != want {
			t.Errorf("ValidID(%q) = %v, want %v", id, got, want)
		}
	}
}
