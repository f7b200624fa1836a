package apps_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/server"
)

// TestMetricsBrowser opens the system metrics dashboard in headless
// Chromium, as herald serve serves it (the hub's API and the apps on one
// mux), on a high-DPI screen: the charts start from the history, the tiles
// update and the charts' point counts grow with each sample; the page is
// paused and resumed from the keyboard; on a 400 px wide phone screen
// nothing overflows. Any JavaScript error fails it; every wait polls.
func TestMetricsBrowser(t *testing.T) {
	chromium := testenv.NeedChromium(t)

	h := newHub(t)
	// A sample every 100 ms: the charts hold 300 points, so the page, which
	// starts from the history, still has room to grow when a loaded
	// machine takes seconds to open it.
	opts := metricsOptions(h)
	opts.MetricsInterval = 100 * time.Millisecond
	a := newApps(t, opts)
	api, err := server.New(server.Options{Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Handle(mux)
	mux.Handle("/", a.Handler())
	ts := serve(t, mux)

	// Some history before the page opens.
	nextSamples(testCtx(t), t, h, 5)

	tab := browsertest.Start(t, chromium)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	poll := func(what, expr string) {
		t.Helper()
		browsertest.Poll(ctx, t, 10*time.Second, what, expr)
	}
	number := func(expr string) int {
		t.Helper()
		n, err := chromedp.Run(ctx, chromedp.Evaluate[int](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return n
	}
	const (
		samples         = `Number(document.getElementById("tiles").dataset.samples)`
		deliveredPoints = `Number(document.getElementById("chart-delivered").dataset.points)`
		deliveredNewest = `Number(document.getElementById("chart-delivered").dataset.newest)` // ms
		memoryPoints    = `Number(document.getElementById("chart-memory").dataset.points)`
	)

	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1024, 900, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/apps/metrics")); err != nil {
		t.Fatal(err)
	}
	poll("the stream to open", `document.getElementById("connection").dataset.state === "open"`)
	// The history drew the samples taken before the page opened.
	poll("the history drawn", deliveredPoints+` >= 5`)

	// The tiles update, and each chart draws more points.
	// A chart holds at most 300 points, which the history alone may fill
	// on a slow machine: then it moves on rather than grows.
	s0, p0, n0 := number(samples), number(deliveredPoints), number(deliveredNewest)
	poll("the tiles to update", samples+` >= `+strconv.Itoa(s0+3))
	poll("the delivered chart to grow", deliveredPoints+` >= `+strconv.Itoa(min(p0+3, 300))+` && `+deliveredNewest+` > `+strconv.Itoa(n0))
	poll("the memory chart to draw", memoryPoints+` >= 5`)
	poll("the tiles' values", `(() => {
		const text = id => document.getElementById(id).textContent;
		return /\d+(\.\d)? %|unavailable/.test(text("tile-cpu")) &&
			/\d (B|KiB|MiB|GiB|TiB)$/.test(text("tile-memory")) &&
			/^\d+\.\d\d \d+\.\d\d \d+\.\d\d$/.test(text("tile-load")) &&
			/^\d+$/.test(text("tile-streams")) && Number(text("tile-streams")) >= 1 &&
			/^↓ .*\/s\n↑ .*\/s$/.test(text("tile-network"));
	})()`)
	// Crisp on a high-DPI screen: the canvas has two pixels per CSS pixel,
	// and its text alternative tells the values.
	poll("a 2x canvas", `(() => {
		const c = document.getElementById("chart-cpu");
		return c.width === Math.round(c.clientWidth * 2) && c.height === Math.round(c.clientHeight * 2);
	})()`)
	poll("the charts' text alternative", `/^Events delivered per second, last \d+ samples: now /.test(
		document.getElementById("chart-delivered").getAttribute("aria-label"))`)
	browsertest.Screenshot(ctx, t, "metrics.png")

	// Paused from the keyboard: nothing moves. Resumed: samples come again.
	if err := chromedp.Do(ctx, chromedp.Focus(chromedp.ID("toggle")), chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	poll("paused", `document.getElementById("connection").dataset.state === "paused" &&
		document.getElementById("toggle").getAttribute("aria-pressed") === "true"`)
	paused := number(samples)
	if err := chromedp.Do(ctx, chromedp.KeyEvent("\r")); err != nil {
		t.Fatal(err)
	}
	poll("resumed", samples+` >= `+strconv.Itoa(paused+3)+` && document.getElementById("connection").dataset.state === "open"`)

	// On a phone: the charts shrink to the width, nothing overflows.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(400, 900, chromedp.EmulateScale(2))); err != nil {
		t.Fatal(err)
	}
	poll("the charts to fit a phone", `(() => {
		const c = document.getElementById("chart-network");
		return c.clientWidth <= 400 && c.width === Math.round(c.clientWidth * 2) &&
			document.documentElement.scrollWidth <= window.innerWidth;
	})()`)
	if err := chromedp.Do(ctx, chromedp.ScrollIntoView(chromedp.ID("chart-cpu"))); err != nil {
		t.Fatal(err)
	}
	browsertest.Screenshot(ctx, t, "metrics-phone.png")
}
