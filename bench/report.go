package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// scenarioResult is one scenario at one size, for every implementation.
type scenarioResult struct {
	Name        string                 `json:"name"`
	Title       string                 `json:"title"`
	Subscribers int                    `json:"subscribers"`
	Impls       []string               `json:"impls"`
	Results     map[string]*implResult `json:"results"`
	rows        []row
	// The ratio column: ratioOf's value over ratioTo's, headed ratioLabel.
	// Empty means herald over the best peer.
	ratioLabel, ratioOf, ratioTo string
}

// implResult is one implementation's run of a scenario.
type implResult struct {
	Metrics   map[string]float64   `json:"metrics"`
	Notes     []string             `json:"notes,omitempty"`
	Detail    any                  `json:"detail,omitempty"`
	Runs      []map[string]float64 `json:"runs,omitempty"` // each run's metrics, when the scenario ran more than once
	Error     string               `json:"error,omitempty"`
	ServerLog []string             `json:"server_log,omitempty"`
	LoadLog   []string             `json:"load_log,omitempty"`
}

func (ir *implResult) summary(rows []row) string {
	var b strings.Builder
	for _, r := range rows {
		if v, ok := ir.Metrics[r.Key]; ok {
			fmt.Fprintf(&b, " %s=%s", r.Key, num(v))
		}
	}
	return strings.TrimSpace(b.String())
}

// markdown renders the scenario as a table: a row per metric, a column per
// implementation, and herald's ratio to the best peer.
func (s *scenarioResult) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n| metric |", s.Title)
	for _, impl := range s.Impls {
		fmt.Fprintf(&b, " %s |", impl)
	}
	label := "herald ÷ best peer"
	if s.ratioLabel != "" {
		label = s.ratioLabel
	}
	fmt.Fprintf(&b, " %s |\n|---|", label)
	for range s.Impls {
		b.WriteString("---:|")
	}
	b.WriteString("---:|\n")
	for _, r := range s.rows {
		dir := ""
		switch r.Better {
		case +1:
			dir = " (higher is better)"
		case -1:
			dir = " (lower is better)"
		}
		fmt.Fprintf(&b, "| %s%s |", r.Label, dir)
		for _, impl := range s.Impls {
			ir := s.Results[impl]
			v, ok := 0.0, false
			if ir != nil {
				v, ok = ir.Metrics[r.Key]
			}
			switch {
			case ok:
				fmt.Fprintf(&b, " %s |", num(v))
			case ir != nil && ir.Error != "":
				b.WriteString(" failed |")
			default:
				b.WriteString(" – |")
			}
		}
		fmt.Fprintf(&b, " %s |\n", s.ratio(r))
	}
	var notes []string
	for _, impl := range s.Impls {
		ir := s.Results[impl]
		if ir == nil {
			continue
		}
		if ir.Error != "" {
			notes = append(notes, fmt.Sprintf("%s failed: %s", impl, ir.Error))
		}
		for _, n := range ir.Notes {
			notes = append(notes, impl+": "+n)
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			fmt.Fprintf(&b, "- %s\n", n)
		}
	}
	return b.String()
}

// ratio is herald's value over the best peer's, for rows with a direction.
func (s *scenarioResult) ratio(r row) string {
	if r.Better == 0 {
		return ""
	}
	of := "herald"
	if s.ratioOf != "" {
		of = s.ratioOf
	}
	h, ok := s.value(of, r.Key)
	if !ok {
		return "–"
	}
	best, found := 0.0, false
	for _, impl := range s.Impls {
		if impl == of || (s.ratioTo != "" && impl != s.ratioTo) {
			continue
		}
		v, ok := s.value(impl, r.Key)
		if !ok {
			continue
		}
		if !found || (r.Better > 0 && v > best) || (r.Better < 0 && v < best) {
			best, found = v, true
		}
	}
	switch {
	case !found:
		return "–"
	case best == 0 && h == 0:
		return "equal"
	case best == 0:
		return "(peer 0)"
	}
	return num(h/best) + "×"
}

func (s *scenarioResult) value(impl, key string) (float64, bool) {
	ir := s.Results[impl]
	if ir == nil || ir.Error != "" {
		return 0, false
	}
	v, ok := ir.Metrics[key]
	return v, ok
}

// num formats v with three significant digits, without exponents.
func num(v float64) string {
	a := math.Abs(v)
	switch {
	case v == math.Trunc(v) && a < 1e15:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 100:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	case a >= 0.01:
		return strconv.FormatFloat(v, 'f', 3, 64)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
