package apps_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/store/memory"
)

// browserServer serves apps made with opts, on a hub made with hopts, on a
// loopback server, and returns its URL and a chromedp tab. The hub runs on
// a memory log when hopts.Log is nil. Cleanups stop the browser first, then
// close the apps and the hub, then the server and the log.
func browserServer(t *testing.T, hopts hub.Options, opts apps.Options) (string, context.Context) {
	t.Helper()
	chromium := testenv.NeedChromium(t)
	if hopts.Log == nil {
		l := memory.New(memory.Options{})
		t.Cleanup(func() { l.Close() })
		hopts.Log = l
	}
	h, err := hub.New(hopts)
	if err != nil {
		t.Fatal(err)
	}
	opts.Hub = h
	a, err := apps.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler())
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub Close: %v", err)
		}
	})
	return ts.URL, browsertest.Start(t, chromium)
}

// pollIn waits until the JavaScript expression is true in the page.
func pollIn(ctx context.Context, t *testing.T, what, expr string) {
	t.Helper()
	browsertest.Poll(ctx, t, 15*time.Second, what, expr)
}

// TestTaskBoardBrowser starts three tasks (two with the mouse, one from the
// keyboard), cancels one, reloads the page, and sees all three again: the
// cancelled one cancelled, the others running on to completed. Then it
// dismisses the cancelled one, which stays gone after another reload.
func TestTaskBoardBrowser(t *testing.T) {
	base, tab := browserServer(t, hub.Options{}, apps.Options{
		TaskStep:        400 * time.Millisecond, // a task runs for 4 s
		TaskConcurrency: 4,
	})
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	run := func(what string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(ctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}

	run("open the task board", chromedp.Navigate(base+"/apps/tasks"))
	pollIn(ctx, t, "the empty board", `document.getElementById("no-tasks").hidden === false`)
	run("start a task", chromedp.Click(chromedp.ID("start-one")))
	pollIn(ctx, t, "one task", `document.querySelectorAll(".task").length === 1`)
	run("start a task", chromedp.Click(chromedp.ID("start-one")))
	pollIn(ctx, t, "two tasks", `document.querySelectorAll(".task").length === 2`)
	run("start a task from the keyboard", chromedp.Focus(chromedp.ID("start-one")), chromedp.KeyEvent("\r"))
	pollIn(ctx, t, "three tasks running on one stream", `document.querySelectorAll(".task").length === 3 &&
		document.getElementById("connection").dataset.state === "open"`)
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".task")].map(t => t.dataset.taskId)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 3 || ids[0] == ids[1] || ids[1] == ids[2] || ids[0] == ids[2] {
		t.Fatalf("task IDs %q, want three different ones", ids)
	}
	victim := ids[1]
	sel := `.task[data-task-id="` + victim + `"]`

	run("cancel the middle task", chromedp.Click(chromedp.CSS(sel+` .cancel`)))
	pollIn(ctx, t, "the middle task cancelled", `(() => {
		const task = document.querySelector('`+sel+`');
		return task.dataset.status === "cancelled" &&
			task.querySelector(".status").textContent.startsWith("cancelled at") &&
			task.querySelector(".cancel").hidden && !task.querySelector(".dismiss").hidden;
	})()`)
	// Reload while the other two still run: the page finds its tasks again
	// and follows them to the end.
	unfinished, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.task[data-status="running"], .task[data-status="queued"]').length`))
	if err != nil {
		t.Fatal(err)
	}
	if unfinished != 2 {
		t.Fatalf("%d tasks unfinished before the reload, want 2", unfinished)
	}
	run("reload", chromedp.Reload())
	pollIn(ctx, t, "the three tasks after the reload", `document.querySelectorAll(".task").length === 3`)
	after, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".task")].map(t => t.dataset.taskId)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(after) != 3 || after[0] != ids[0] || after[1] != ids[1] || after[2] != ids[2] {
		t.Fatalf("task IDs after the reload %q, want %q", after, ids)
	}
	pollIn(ctx, t, "the others completed, the cancelled one still cancelled", `(() => {
		const tasks = [...document.querySelectorAll(".task")];
		return tasks.every(task => task.dataset.taskId === "`+victim+`" ?
			task.dataset.status === "cancelled" :
			task.dataset.status === "completed" &&
			task.querySelector("[role=progressbar]").getAttribute("aria-valuenow") === "100" &&
			task.querySelector(".status").textContent === "completed - 100% complete");
	})()`)
	pollIn(ctx, t, "the stream closed", `document.getElementById("connection").dataset.state === "closed"`)
	browsertest.Screenshot(ctx, t, "tasks.png")
	run("narrow the window to a phone's width", chromedp.EmulateViewport(400, 900))
	browsertest.Screenshot(ctx, t, "tasks-400px.png")

	run("dismiss the cancelled task", chromedp.Click(chromedp.CSS(sel+` .dismiss`)))
	pollIn(ctx, t, "two tasks left", `document.querySelectorAll(".task").length === 2`)
	run("reload", chromedp.Reload())
	pollIn(ctx, t, "two completed tasks after the reload", `(() => {
		const tasks = [...document.querySelectorAll(".task")];
		return tasks.length === 2 && tasks.every(task => task.dataset.status === "completed");
	})()`)
}
