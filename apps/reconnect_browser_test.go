package apps_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/browsertest"
)

// TestReconnectBrowser opens the reconnection page, waits for some events,
// presses "Drop my stream", and sees the server's error event, the state
// go reconnecting then open again, and more events after with missed: 0.
func TestReconnectBrowser(t *testing.T) {
	base, tab := browserServer(t, hub.Options{Retry: 300 * time.Millisecond}, apps.Options{
		SequenceInterval: 50 * time.Millisecond,
	})
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()

	if err := chromedp.Do(ctx, chromedp.Navigate(base+"/apps/reconnect")); err != nil {
		t.Fatal(err)
	}
	pollIn(ctx, t, "the stream open with five events", `document.getElementById("state").dataset.state === "open" &&
		Number(document.getElementById("seq").dataset.seq) >= 5`)
	before, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Number(document.getElementById("seq").dataset.seq)`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.ID("drop"))); err != nil {
		t.Fatal(err)
	}
	pollIn(ctx, t, "the server's error event", `document.getElementById("server-error").textContent.includes("dropped this stream")`)
	pollIn(ctx, t, "the stream open again with more events and none missed", `(() => {
		const log = document.getElementById("log").textContent;
		const check = document.getElementById("check");
		return document.getElementById("state").dataset.state === "open" &&
			document.getElementById("reconnects").textContent === "1" &&
			log.includes("connection reconnecting") &&
			document.getElementById("replayed").dataset.replayed !== undefined &&
			Number(document.getElementById("seq").dataset.seq) >= `+strconv.Itoa(before+10)+` &&
			check.dataset.ok === "true" && check.dataset.missed === "0" &&
			check.textContent === "missed: 0\nduplicated: 0";
	})()`)
	replayed, err := chromedp.Run(ctx, chromedp.Evaluate[int](`Number(document.getElementById("replayed").dataset.replayed)`))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d events replayed after the reconnect", replayed)
	browsertest.Screenshot(ctx, t, "reconnect.png")
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(400, 900)); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(ctx, t, "reconnect-400px.png")
}
