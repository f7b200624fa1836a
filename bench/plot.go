package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// idleSizes returns the idle scenario's results in order of size, when it
// ran at more than one.
func idleSizes(res *results) []*scenarioResult {
	var idle []*scenarioResult
	for _, s := range res.Scenarios {
		if s.Name == "idle" {
			idle = append(idle, s)
		}
	}
	if len(idle) < 2 {
		return nil
	}
	slices.SortFunc(idle, func(a, b *scenarioResult) int { return a.Subscribers - b.Subscribers })
	return idle
}

// scalingMarkdown renders how memory per idle subscriber changes with the
// number of subscribers: a row per size, a column per implementation.
func scalingMarkdown(idle []*scenarioResult) string {
	var b strings.Builder
	impls := idle[0].Impls
	b.WriteString("### idle memory per subscriber by size: RSS KiB (Go heap+stack KiB)\n\n| subscribers |")
	for _, impl := range impls {
		fmt.Fprintf(&b, " %s |", impl)
	}
	b.WriteString("\n|---:|")
	for range impls {
		b.WriteString("---:|")
	}
	b.WriteString("\n")
	for _, s := range idle {
		fmt.Fprintf(&b, "| %d |", s.Subscribers)
		for _, impl := range impls {
			rss, ok1 := s.value(impl, "rss_kib_per_sub")
			hs, ok2 := s.value(impl, "heapstack_kib_per_sub")
			if !ok1 || !ok2 {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(&b, " %s (%s) |", num(rss), num(hs))
		}
		b.WriteString("\n")
	}
	return b.String()
}

// writeScalingSVG draws RSS per idle subscriber against the number of
// subscribers, a line per implementation, as a small SVG.
func writeScalingSVG(w io.Writer, idle []*scenarioResult) error {
	const (
		width, height          = 560, 320
		left, right, top, bott = 60, 110, 20, 40
	)
	impls := idle[0].Impls
	maxX := float64(idle[len(idle)-1].Subscribers)
	maxY := 0.0
	for _, s := range idle {
		for _, impl := range impls {
			if v, ok := s.value(impl, "rss_kib_per_sub"); ok {
				maxY = max(maxY, v)
			}
		}
	}
	maxY = float64(int(maxY/5)+1) * 5
	x := func(n float64) float64 { return left + n/maxX*(width-left-right) }
	y := func(v float64) float64 { return height - bott - v/maxY*(height-top-bott) }
	colors := []string{"#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e"}

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", width, height)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", width, height)
	fmt.Fprintf(&b, `<text x="%d" y="14">RSS per idle subscriber, KiB</text>`+"\n", left)
	for i := 0; i <= 5; i++ {
		v := maxY * float64(i) / 5
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s</text>`+"\n",
			left, width-right, y(v), y(v), left-6, y(v)+4, num(v))
	}
	for _, s := range idle {
		n := float64(s.Subscribers)
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">%d</text>`+"\n", x(n), height-bott+16, s.Subscribers)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%d" text-anchor="middle">subscribers</text>`+"\n", x(maxX/2), height-4)
	for i, impl := range impls {
		color := colors[i%len(colors)]
		var pts []string
		for _, s := range idle {
			if v, ok := s.value(impl, "rss_kib_per_sub"); ok {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(float64(s.Subscribers)), y(v)))
				fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"/>`+"\n", x(float64(s.Subscribers)), y(v), color)
			}
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), color)
		fmt.Fprintf(&b, `<text x="%d" y="%d" fill="%s">%s</text>`+"\n", width-right+10, top+20+18*i, color, impl)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}
