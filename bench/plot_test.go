package main

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

// TestScalingReport checks the idle scaling table and plot from two sizes:
// a row per size in order, and an SVG that parses, with a line per
// implementation.
func TestScalingReport(t *testing.T) {
	res := &results{}
	for _, n := range []int{5000, 1000} {
		s := &scenarioResult{Name: "idle", Subscribers: n, Impls: []string{"herald", "gosse"}, Results: map[string]*implResult{}}
		for i, impl := range s.Impls {
			s.Results[impl] = &implResult{Metrics: map[string]float64{
				"rss_kib_per_sub":       float64(4 + 20*i),
				"heapstack_kib_per_sub": float64(2 + 20*i),
			}}
		}
		res.Scenarios = append(res.Scenarios, s)
	}
	idle := idleSizes(res)
	if len(idle) != 2 || idle[0].Subscribers != 1000 {
		t.Fatalf("idle sizes not sorted: %v", idle)
	}
	md := scalingMarkdown(idle)
	if !strings.Contains(md, "| 1000 | 4 (2) | 24 (22) |") || strings.Index(md, "| 1000 |") > strings.Index(md, "| 5000 |") {
		t.Errorf("table:\n%s", md)
	}
	var svg bytes.Buffer
	if err := writeScalingSVG(&svg, idle); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&svg)
	lines := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("SVG does not parse: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "polyline" {
			lines++
		}
	}
	if lines != 2 {
		t.Errorf("%d lines drawn, want 2", lines)
	}
}
