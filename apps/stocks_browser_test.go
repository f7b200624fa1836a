package apps_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
)

// TestStocksBrowser picks two symbols on the stock ticker and receives
// ticks for those two only, their prices and sparklines moving; then
// deselects one, after which only the other updates.
func TestStocksBrowser(t *testing.T) {
	chromium := testenv.NeedChromium(t)
	url := serveWithAPI(t, apps.Options{StockSeed: 1, StockInterval: 50 * time.Millisecond})

	tab := browsertest.Start(t, chromium)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	poll := poller(t, ctx)
	eval := func(expr string) string {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return v
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(`a[href="/apps/stocks"]`)))
	if err != nil {
		t.Fatalf("follow the index's link to the stock ticker: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("/apps/stocks: status %d", resp.Status)
	}
	poll("the 20 symbols", `document.querySelectorAll("#stock-symbols button").length === 20`)

	// Pick AAPL with the mouse and MSFT from the keyboard.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`#stock-symbols button[data-symbol="AAPL"]`)),
		chromedp.Focus(chromedp.CSS(`#stock-symbols button[data-symbol="MSFT"]`)),
		chromedp.KeyEvent(" "),
	); err != nil {
		t.Fatal(err)
	}
	poll("a stream for AAPL and MSFT", `document.getElementById("stock-board").dataset.subscribed === "AAPL MSFT" &&
		document.getElementById("stock-connection").dataset.state === "open"`)
	poll("five ticks of each", `(() => {
		const cards = [...document.querySelectorAll("#stock-board .stock")];
		return cards.length === 2 && cards.every(c => Number(c.dataset.ticks) >= 5 &&
			c.querySelector("polyline").getAttribute("points").split(" ").length >= 6);
	})()`)
	if got := eval(`document.getElementById("stock-board").dataset.received`); got != "AAPL MSFT" {
		t.Errorf("received ticks of %q, want of AAPL and MSFT only", got)
	}
	if got := eval(`[...document.querySelectorAll("#stock-symbols button[aria-pressed=true]")].map(b => b.dataset.symbol).join(" ")`); got != "AAPL MSFT" {
		t.Errorf("pressed buttons %q, want AAPL MSFT", got)
	}
	// Prices move, and flash the way they move.
	poll("a flash", `document.querySelector("#stock-board .flash-up, #stock-board .flash-down") !== null`)
	browsertest.Screenshot(ctx, t, "stocks.png")

	// Deselect MSFT: a new stream for AAPL alone, MSFT's card gone.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#stock-symbols button[data-symbol="MSFT"]`))); err != nil {
		t.Fatal(err)
	}
	poll("a stream for AAPL alone", `document.getElementById("stock-board").dataset.subscribed === "AAPL" &&
		document.querySelectorAll("#stock-board .stock").length === 1`)
	before := eval(`document.querySelector('#stock-board .stock[data-symbol="AAPL"]').dataset.ticks`)
	poll("five more ticks of AAPL", `Number(document.querySelector('#stock-board .stock[data-symbol="AAPL"]').dataset.ticks) >= `+before+` + 5`)
	if got := eval(`document.getElementById("stock-board").dataset.received`); got != "AAPL" {
		t.Errorf("after deselecting MSFT, received ticks of %q, want of AAPL only", got)
	}

	// On a phone.
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(400, 860)); err != nil {
		t.Fatal(err)
	}
	if wide := eval(`String(document.documentElement.scrollWidth > 400)`); wide != "false" {
		t.Error("the stock ticker is wider than a 400 px screen")
	}
	browsertest.Screenshot(ctx, t, "stocks-phone.png")
}
