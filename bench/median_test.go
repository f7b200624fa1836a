package main

import "testing"

// TestMedianOf checks how runs merge: the median of each metric over the
// runs that did not fail, every run kept, the first failure reported.
func TestMedianOf(t *testing.T) {
	got := medianOf([]*implResult{
		{Metrics: map[string]float64{"x": 3, "y": 10}},
		{Metrics: map[string]float64{"x": 1}, Error: "boom"},
		{Metrics: map[string]float64{"x": 5, "y": 20}},
		{Metrics: map[string]float64{"x": 4, "y": 30}},
	})
	if got.Metrics["x"] != 4 || got.Metrics["y"] != 20 {
		t.Errorf("medians %v, want x=4 (of 3,5,4) and y=20", got.Metrics)
	}
	if got.Error != "boom" || len(got.Runs) != 4 {
		t.Errorf("error %q, %d runs kept", got.Error, len(got.Runs))
	}
	even := medianOf([]*implResult{{Metrics: map[string]float64{"x": 1}}, {Metrics: map[string]float64{"x": 2}}})
	if even.Metrics["x"] != 1.5 {
		t.Errorf("median of 1 and 2 = %v", even.Metrics["x"])
	}
}
