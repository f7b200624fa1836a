package main

import (
	"os"
	"testing"
	"time"
)

// TestMain lets the test binary play the server and load roles the
// harness starts by executing itself again.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "-role" {
		os.Exit(cli(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// TestScenarios runs every scenario at a tiny scale for every
// implementation and checks the harness saw complete delivery.
func TestScenarios(t *testing.T) {
	raiseFileLimit()
	c := config{
		Scenarios:       allScenarios,
		Impls:           allImpls,
		IdleSubs:        20,
		Settle:          50 * time.Millisecond,
		IdleWindow:      100 * time.Millisecond,
		FanoutSubs:      20,
		FanoutBursts:    2,
		FanoutEvents:    5,
		Size:            64,
		LatencySubs:     20,
		LatencyRate:     100,
		LatencyDuration: 200 * time.Millisecond,
		ChurnSubs:       20,
		ChurnRate:       100,
		ChurnWorkers:    4,
		ChurnDuration:   300 * time.Millisecond,
		ConnsPerLoad:    15, // two load processes, as at full scale
		WaitTimeout:     10 * time.Second,
		Stall:           3 * time.Second,
		Deadline:        time.Minute,
	}
	res, err := runAll(t.Context(), c, testWriter{t})
	if err != nil {
		t.Fatalf("runAll: %v", err)
	}
	if len(res.Scenarios) != len(allScenarios) {
		t.Fatalf("got %d scenario results, want %d", len(res.Scenarios), len(allScenarios))
	}
	for _, s := range res.Scenarios {
		for _, impl := range allImpls {
			t.Run(s.Name+"/"+impl, func(t *testing.T) {
				ir := s.Results[impl]
				if ir == nil {
					t.Fatal("no result")
				}
				if ir.Error != "" {
					t.Fatalf("error: %s (server log: %q)", ir.Error, ir.ServerLog)
				}
				if v, ok := ir.Metrics["missing"]; ok && v != 0 {
					t.Errorf("missing = %v, want 0 (notes: %q)", v, ir.Notes)
				}
				switch s.Name {
				case "idle":
					if v := ir.Metrics["subscribers_after_window"]; v != float64(c.IdleSubs) {
						t.Errorf("subscribers after window = %v, want %d", v, c.IdleSubs)
					}
				case "fanout":
					want := float64(c.FanoutSubs * c.FanoutBursts * c.FanoutEvents)
					if v := ir.Metrics["delivered"]; v != want {
						t.Errorf("delivered = %v, want %v", v, want)
					}
				case "latency":
					want := float64(c.LatencySubs) * float64(c.LatencyRate) * c.LatencyDuration.Seconds()
					if v := ir.Metrics["samples"]; v != want {
						t.Errorf("latency samples = %v, want %v", v, want)
					}
				case "churn":
					if ir.Metrics["cycles"] == 0 {
						t.Errorf("no churn cycles completed")
					}
					if v := ir.Metrics["leaked"]; v != 0 {
						t.Errorf("leaked = %v, want 0", v)
					}
				}
			})
		}
		if md := s.markdown(); md == "" {
			t.Errorf("%s: empty table", s.Name)
		}
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}
