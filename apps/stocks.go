package apps

import (
	"context"
	"encoding/json"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"time"

	"github.com/heraldsse/herald/hub"
)

// stockSymbol is one symbol of the simulated market, with its price at the
// open and the parameters of its geometric Brownian motion.
type stockSymbol struct {
	Symbol string
	Name   string
	Open   float64 // price at the start
	Drift  float64 // μ, per year
	Vol    float64 // σ, per square root of a year
}

// stockSymbols is the simulated market: 20 symbols, in the order of
// GET /stocks/symbols.
var stockSymbols = []stockSymbol{
	{"AAPL", "Apple", 189.50, 0.08, 0.25},
	{"MSFT", "Microsoft", 415.20, 0.09, 0.24},
	{"GOOG", "Alphabet", 172.30, 0.07, 0.28},
	{"AMZN", "Amazon", 185.10, 0.10, 0.32},
	{"META", "Meta Platforms", 505.70, 0.11, 0.38},
	{"NVDA", "NVIDIA", 122.40, 0.15, 0.50},
	{"TSLA", "Tesla", 248.90, 0.05, 0.60},
	{"NFLX", "Netflix", 680.00, 0.08, 0.40},
	{"AMD", "Advanced Micro Devices", 158.60, 0.10, 0.48},
	{"INTC", "Intel", 31.20, 0.00, 0.36},
	{"ORCL", "Oracle", 139.80, 0.06, 0.26},
	{"IBM", "IBM", 190.40, 0.04, 0.20},
	{"CSCO", "Cisco", 49.70, 0.03, 0.20},
	{"ADBE", "Adobe", 540.30, 0.06, 0.33},
	{"CRM", "Salesforce", 262.10, 0.07, 0.34},
	{"JPM", "JPMorgan Chase", 205.60, 0.06, 0.22},
	{"V", "Visa", 276.40, 0.07, 0.19},
	{"KO", "Coca-Cola", 62.80, 0.03, 0.14},
	{"DIS", "Walt Disney", 101.90, 0.02, 0.27},
	{"XOM", "Exxon Mobil", 114.30, 0.04, 0.24},
}

// stockDT is the time one tick stands for, in years: one minute of a
// trading year of 252 days of 6.5 hours, so a tick moves a price by a few
// hundredths of a percent, and the chart moves visibly, once a second.
const stockDT = 1.0 / (252 * 6.5 * 60)

// gbmStep moves price one step of length dt (in years) along a geometric
// Brownian motion with drift mu and volatility sigma, for the standard
// normal draw z: price·exp((μ − σ²/2)·dt + σ·√dt·z).
func gbmStep(price, mu, sigma, dt, z float64) float64 {
	return price * math.Exp((mu-sigma*sigma/2)*dt+sigma*math.Sqrt(dt)*z)
}

// cents rounds x to the nearest cent.
func cents(x float64) float64 { return math.Round(x*100) / 100 }

// stockTick is the data of each event on stocks/<SYMBOL>, and an entry of
// GET /stocks/symbols.
type stockTick struct {
	Symbol string  `json:"symbol"`
	Price  float64 `json:"price"`  // in dollars, rounded to cents
	Change float64 `json:"change"` // since the previous tick, in dollars, rounded to cents
	Time   string  `json:"time"`   // RFC 3339 in UTC
}

// stockMarket is the simulated market: prices that move one GBM step per
// tick for every symbol, from a seeded source. It is not safe for
// concurrent use; the simulator goroutine owns it.
type stockMarket struct {
	rng    *rand.Rand
	prices []float64 // unrounded, by index in stockSymbols
}

// newStockMarket returns the market at the open, its draws seeded by seed.
func newStockMarket(seed uint64) *stockMarket {
	m := &stockMarket{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), prices: make([]float64, len(stockSymbols))}
	for i, s := range stockSymbols {
		m.prices[i] = s.Open
	}
	return m
}

// step moves every price one tick and returns the ticks, stamped now.
func (m *stockMarket) step(now time.Time) []stockTick {
	ticks := make([]stockTick, len(stockSymbols))
	stamp := now.UTC().Format(time.RFC3339Nano)
	for i, s := range stockSymbols {
		prev := m.prices[i]
		m.prices[i] = gbmStep(prev, s.Drift, s.Vol, stockDT, m.rng.NormFloat64())
		price := cents(m.prices[i])
		ticks[i] = stockTick{Symbol: s.Symbol, Price: price, Change: cents(price - cents(prev)), Time: stamp}
	}
	return ticks
}

// stockTopic returns the hub topic of symbol.
func stockTopic(symbol string) string { return "stocks/" + symbol }

// stocks is the stock ticker's state in [Apps]: the simulator goroutine and
// the last tick of each symbol, for GET /stocks/symbols.
type stocks struct {
	cancel context.CancelFunc // stops the simulator
	wg     sync.WaitGroup

	mu   sync.Mutex
	last []stockTick // by index in stockSymbols
}

// startStocks starts the simulator goroutine, which publishes one tick per
// symbol every StockInterval until stopStocks.
func (a *Apps) startStocks() {
	seed := a.opts.StockSeed
	if seed == 0 {
		seed = rand.Uint64()
	}
	m := newStockMarket(seed)
	now := time.Now().UTC().Format(time.RFC3339Nano)
	a.stocks.last = make([]stockTick, len(stockSymbols))
	for i, s := range stockSymbols {
		a.stocks.last[i] = stockTick{Symbol: s.Symbol, Price: s.Open, Time: now}
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.stocks.cancel = cancel
	a.stocks.wg.Go(func() { a.runStocks(ctx, m) })
}

// runStocks is the simulator goroutine.
func (a *Apps) runStocks(ctx context.Context, m *stockMarket) {
	t := time.NewTicker(a.opts.StockInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			ticks := m.step(now)
			a.stocks.mu.Lock()
			copy(a.stocks.last, ticks)
			a.stocks.mu.Unlock()
			for _, tk := range ticks {
				data, _ := json.Marshal(tk) // plain values: always marshals
				if _, err := a.hub.Publish(ctx, hub.Message{Topic: stockTopic(tk.Symbol), Data: string(data)}); err != nil {
					a.log.Debug("stocks: publish", "symbol", tk.Symbol, "err", err)
					break // the hub is closed or failing: try again next tick
				}
			}
		}
	}
}

// stopStocks stops the simulator goroutine and waits for it, or returns
// when ctx ends. It is safe to call more than once.
func (a *Apps) stopStocks(ctx context.Context) error {
	a.stocks.cancel()
	return waitGroup(ctx, &a.stocks.wg)
}

// routeStocks registers the stock ticker's route: GET /stocks/symbols. The
// page follows the symbols it shows on the API's
// GET /events?topic=stocks/AAPL&topic=stocks/MSFT.
func (a *Apps) routeStocks(mux *routeMux) {
	mux.HandleFunc("GET /stocks/symbols", a.stockSymbols)
}

// stockSymbolsBody is the answer of GET /stocks/symbols.
type stockSymbolsBody struct {
	Symbols []stockListing `json:"symbols"`
}

// stockListing is one symbol of GET /stocks/symbols and its last tick.
type stockListing struct {
	Name  string `json:"name"`
	Topic string `json:"topic"`
	stockTick
}

// stockSymbols handles GET /stocks/symbols: every symbol of the market, its
// name, topic and last tick (the open price, with change 0, before the
// first tick).
func (a *Apps) stockSymbols(w http.ResponseWriter, r *http.Request) {
	body := stockSymbolsBody{Symbols: make([]stockListing, len(stockSymbols))}
	a.stocks.mu.Lock()
	for i, s := range stockSymbols {
		body.Symbols[i] = stockListing{Name: s.Name, Topic: stockTopic(s.Symbol), stockTick: a.stocks.last[i]}
	}
	a.stocks.mu.Unlock()
	writeJSON(w, http.StatusOK, body)
}
