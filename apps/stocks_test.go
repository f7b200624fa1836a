package apps_test

import (
	"context"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
)

// stockTick is the data of an event on stocks/<SYMBOL>.
type stockTick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`
	Change float64 `json:"change"`
	Time   string  `json:"time"`
}

// stockTicks subscribes to patterns on h and returns the first n events'
// topics and ticks.
func stockTicks(t *testing.T, h *hub.Hub, n int, patterns ...string) ([]string, []stockTick) {
	t.Helper()
	sub, err := h.Subscribe(testCtx(t), hub.SubscribeRequest{Topics: patterns, FromStart: true})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var topics []string
	var ticks []stockTick
	for ev, err := range sub.Events(testCtx(t)) {
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != "" && ev.Type != "message" {
			t.Errorf("event type %q, want message", ev.Type)
		}
		var tk stockTick
		decodeStrict(t, ev.Data, &tk)
		topics = append(topics, ev.Topic)
		ticks = append(ticks, tk)
		if len(ticks) == n {
			break
		}
	}
	return topics, ticks
}

// TestStocksPublish checks the ticker's events: one per symbol per tick,
// each on stocks/<SYMBOL>, with the symbol, a price in cents, the change
// since the previous tick and the time.
func TestStocksPublish(t *testing.T) {
	h := newHub(t)
	newApps(t, apps.Options{Hub: h, StockSeed: 7, StockInterval: 5 * time.Millisecond})
	topics, ticks := stockTicks(t, h, 60, "stocks/*")
	last := make(map[string]float64)
	for i, tk := range ticks {
		if topics[i] != "stocks/"+tk.Symbol {
			t.Errorf("tick of %s on topic %q", tk.Symbol, topics[i])
		}
		if tk.Price <= 0 || math.Abs(tk.Price*100-math.Round(tk.Price*100)) > 1e-6 {
			t.Errorf("tick %+v: price not in cents", tk)
		}
		if p, ok := last[tk.Symbol]; ok && math.Abs(tk.Change-(tk.Price-p)) > 0.005 {
			t.Errorf("tick %+v: change is not the move since %.2f", tk, p)
		}
		last[tk.Symbol] = tk.Price
		if when, err := time.Parse(time.RFC3339Nano, tk.Time); err != nil || when.Location() != time.UTC {
			t.Errorf("tick %+v: time not RFC 3339 in UTC (%v)", tk, err)
		}
	}
	if len(last) != 20 {
		t.Errorf("%d symbols in 3 ticks, want 20", len(last))
	}

	// A subscriber of two topics gets only those.
	topics, _ = stockTicks(t, h, 10, "stocks/AAPL", "stocks/MSFT")
	for _, topic := range topics {
		if topic != "stocks/AAPL" && topic != "stocks/MSFT" {
			t.Errorf("subscribed to AAPL and MSFT, got %s", topic)
		}
	}
}

// TestStocksSeed checks that two markets with the same seed publish the
// same prices.
func TestStocksSeed(t *testing.T) {
	prices := func(seed uint64) []float64 {
		h := newHub(t)
		newApps(t, apps.Options{Hub: h, StockSeed: seed, StockInterval: 2 * time.Millisecond})
		_, ticks := stockTicks(t, h, 100, "stocks/*")
		var p []float64
		for _, tk := range ticks {
			p = append(p, tk.Price)
		}
		return p
	}
	a, b, c := prices(99), prices(99), prices(100)
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("seed 99, event %d: price %v then %v", i, a[i], b[i])
		}
	}
	if slices.Equal(a, c) {
		t.Error("seeds 99 and 100 published the same prices")
	}
}

// TestStocksSymbols checks GET /stocks/symbols: the 20 symbols, each with
// its name, topic and last price.
func TestStocksSymbols(t *testing.T) {
	h := newHub(t)
	ts := serve(t, newApps(t, apps.Options{Hub: h, StockSeed: 1, StockInterval: time.Hour}).Handler())
	type listing struct {
		Name  string `json:"name"`
		Topic string `json:"topic"`
		stockTick
	}
	var body struct {
		Symbols []listing `json:"symbols"`
	}
	jsonGet(t, ts.URL+"/stocks/symbols", http.StatusOK, &body)
	if len(body.Symbols) != 20 {
		t.Fatalf("%d symbols, want 20", len(body.Symbols))
	}
	seen := make(map[string]bool)
	for _, s := range body.Symbols {
		if seen[s.Symbol] || s.Symbol == "" || s.Symbol != strings.ToUpper(s.Symbol) {
			t.Errorf("symbol %q: duplicate, empty or not upper case", s.Symbol)
		}
		seen[s.Symbol] = true
		if s.Name == "" || s.Topic != "stocks/"+s.Symbol || s.Price <= 0 || s.Change != 0 || s.Time == "" {
			t.Errorf("before the first tick: %+v, want a name, its topic, the open price and no change", s)
		}
	}
	if !seen["AAPL"] || !seen["MSFT"] {
		t.Errorf("symbols %v lack AAPL or MSFT", seen)
	}
}

// TestStocksCloseStops checks that Close stops the simulator: nothing is
// published after it returns.
func TestStocksCloseStops(t *testing.T) {
	h := newHub(t)
	a, err := apps.New(apps.Options{Hub: h, StockInterval: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stockTicks(t, h, 20, "stocks/*")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	n := h.Stats().Published
	time.Sleep(20 * time.Millisecond) // twenty intervals of a running simulator
	if m := h.Stats().Published; m != n {
		t.Errorf("%d events published after Close", m-n)
	}
}
