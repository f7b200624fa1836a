package apps

import (
	"math"
	"testing"
	"time"
)

// TestGBMStep checks the pure step of the simulated market against the
// formula price·exp((μ − σ²/2)·dt + σ·√dt·z).
func TestGBMStep(t *testing.T) {
	tests := []struct {
		name                    string
		price, mu, sigma, dt, z float64
		want                    float64
	}{
		{"still", 100, 0, 0, 1, 1.5, 100},
		{"drift only", 100, 0.1, 0, 1, 0, 100 * math.Exp(0.1)},
		{"drift and volatility, no shock", 100, 0.1, 0.2, 1, 0, 100 * math.Exp(0.08)},
		{"one sigma up over a quarter", 50, 0, 0.2, 0.25, 1, 50 * math.Exp(-0.005+0.1)},
		{"two sigma down", 200, 0.05, 0.4, 0.04, -2, 200 * math.Exp((0.05-0.08)*0.04-0.16)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := gbmStep(tt.price, tt.mu, tt.sigma, tt.dt, tt.z)
			if math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("gbmStep(%v, %v, %v, %v, %v) = %v, want %v", tt.price, tt.mu, tt.sigma, tt.dt, tt.z, got, tt.want)
			}
		})
	}
}

// TestStockMarketSeed checks that a seed fixes every price: the same seed
// gives the same ticks, another seed others; and that each tick is rounded
// to cents, its change the difference from the previous tick.
func TestStockMarketSeed(t *testing.T) {
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	a, b, c := newStockMarket(42), newStockMarket(42), newStockMarket(43)
	prev := make(map[string]float64)
	for _, s := range stockSymbols {
		prev[s.Symbol] = s.Open
	}
	differs := false
	for range 100 {
		ta, tb, tc := a.step(now), b.step(now), c.step(now)
		if len(ta) != len(stockSymbols) {
			t.Fatalf("%d ticks, want %d", len(ta), len(stockSymbols))
		}
		for i := range ta {
			if ta[i] != tb[i] {
				t.Fatalf("same seed, tick %d: %+v and %+v", i, ta[i], tb[i])
			}
			if ta[i].Price != tc[i].Price {
				differs = true
			}
			tk := ta[i]
			if tk.Symbol != stockSymbols[i].Symbol || tk.Time != "2026-11-26T12:00:00Z" {
				t.Fatalf("tick %d: %+v", i, tk)
			}
			if tk.Price <= 0 || tk.Price != cents(tk.Price) || tk.Change != cents(tk.Change) {
				t.Fatalf("tick %+v: price and change not in cents", tk)
			}
			if math.Abs(tk.Change-(tk.Price-prev[tk.Symbol])) > 0.005 {
				t.Fatalf("tick %+v: change is not the move since %.2f", tk, prev[tk.Symbol])
			}
			// A tick stands for a trading minute: prices move, but little.
			if math.Abs(tk.Price/prev[tk.Symbol]-1) > 0.02 {
				t.Fatalf("tick %+v: moved more than 2 %% from %.2f", tk, prev[tk.Symbol])
			}
			prev[tk.Symbol] = tk.Price
		}
	}
	if !differs {
		t.Error("seeds 42 and 43 gave the same prices")
	}
}
