package main

import (
	"context"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/store/memory"
)

// TestBrowser drives the apps' pages in headless Chromium: the index leads
// to the live counter, which advances; the task monitor runs two tasks to
// 100 %, one at a time, the second queued until the first is done. Any JavaScript error on the way fails it (see browsertest.Start).
// Every wait polls a condition in the page; none sleeps.
func TestBrowser(t *testing.T) {
	chromium := testenv.NeedChromium(t)

	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	a, err := apps.New(apps.Options{
		Hub:              h,
		StreamInterval:   50 * time.Millisecond,
		AdvancedInterval: 50 * time.Millisecond,
		IDInterval:       50 * time.Millisecond,
		TaskStep:         100 * time.Millisecond, // a task runs for 1 s
		TaskConcurrency:  1,                      // the second task waits, queued
	})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler()) // on 127.0.0.1
	t.Cleanup(ts.Close)
	// Cleanups run last first: the browser stops, then the apps and the
	// hub end any stream still open, then the server closes.
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

	tab := browsertest.Start(t, chromium)
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()

	// poll waits until the JavaScript expression is true in the page.
	poll := func(what, expr string) {
		t.Helper()
		browsertest.Poll(ctx, t, 10*time.Second, what, expr)
	}
	// follow clicks the index's link to path and waits for the page to load.
	follow := func(path string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
			t.Fatalf("open the index: %v", err)
		}
		resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`a[href="`+path+`"]`)))
		if err != nil {
			t.Fatalf("follow the index's link to %s: %v", path, err)
		}
		if resp.Status != 200 {
			t.Fatalf("%s: status %d", path, resp.Status)
		}
	}

	// The live counter advances.
	follow("/apps/counter")
	poll("the count to reach 3", `Number(document.getElementById("counter").dataset.count) >= 3`)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("counter")))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^Count: \d+, Time: \S`).MatchString(text) {
		t.Errorf("counter shows %q, want \"Count: n, Time: ...\"", text)
	}
	poll("the connection status", `document.getElementById("connection").dataset.state === "open"`)

	// The task monitor runs two tasks side by side: one started with the
	// mouse, one from the keyboard.
	follow("/apps/task-monitor")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("start-task"))); err != nil {
		t.Fatal(err)
	}
	poll("the first task", `document.querySelectorAll(".task").length === 1`)
	if err := chromedp.Do(ctx,
		chromedp.Focus(chromedp.ID("start-task")),
		chromedp.KeyEvent("\r"),
	); err != nil {
		t.Fatal(err)
	}
	// One task runs at a time: the second shows that it waits.
	poll("the second task queued", `(() => {
		const task = document.querySelectorAll(".task")[0];
		return task !== undefined && task.dataset.status === "queued" &&
			task.querySelector(".status").textContent === "queued - waiting for a free slot";
	})()`)
	poll("two tasks at 100%", `(() => {
		const tasks = [...document.querySelectorAll(".task")];
		return tasks.length === 2 && tasks.every(task =>
			task.dataset.status === "completed" &&
			task.querySelector("[role=progressbar]").getAttribute("aria-valuenow") === "100" &&
			task.querySelector(".progress-fill").style.width === "100%" &&
			task.querySelector(".status").textContent === "completed - 100% complete");
	})()`)
	ids, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".task")].map(t => t.dataset.taskId)`))
	if err != nil {
		t.Fatal(err)
	}
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Errorf("task IDs %q, want two different ones", ids)
	}
	browsertest.Screenshot(ctx, t, "task-monitor.png")
}
