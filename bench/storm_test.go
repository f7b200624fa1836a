package main

import (
	"testing"
	"time"
)

// TestStorm runs the storm scenario at a tiny scale for every
// implementation: every client must get every event of the history once
// and in order.
func TestStorm(t *testing.T) {
	raiseFileLimit()
	c := config{
		Scenarios:    []string{"storm"},
		Impls:        allImpls,
		Storm:        stormConfig{Clients: 20, Events: 50, Size: 200},
		ConnsPerLoad: 15, // two load processes, as at full scale
		WaitTimeout:  20 * time.Second,
		Stall:        5 * time.Second,
		Deadline:     time.Minute,
	}
	res, err := runAll(t.Context(), c, testWriter{t})
	if err != nil {
		t.Fatalf("runAll: %v", err)
	}
	s := res.Scenarios[0]
	for _, impl := range allImpls {
		t.Run(impl, func(t *testing.T) {
			ir := s.Results[impl]
			if ir == nil || ir.Error != "" {
				t.Fatalf("result %+v", ir)
			}
			m := ir.Metrics
			if m["clients_checked"] != 20 {
				t.Errorf("clients checked = %v, want 20", m["clients_checked"])
			}
			for _, k := range []string{"lost", "duplicated", "out_of_order", "foreign"} {
				if m[k] != 0 {
					t.Errorf("%s = %v, want 0 (notes %q)", k, m[k], ir.Notes)
				}
			}
			if m["time_s"] <= 0 || m["peak_rss_mib"] <= 0 {
				t.Errorf("time %v s, peak RSS %v MiB: want both positive", m["time_s"], m["peak_rss_mib"])
			}
		})
	}
	if s.markdown() == "" {
		t.Error("empty table")
	}
}

// TestSeqCheck feeds one client's check the bad orders it must count.
func TestSeqCheck(t *testing.T) {
	s := newSeqCheck(5)
	for _, v := range []int64{1, 3, 2, 3, 0, 6, 5} {
		s.see(v)
	}
	g := &gen{clients: []*client{{seq: s}, {}}}
	got := g.seqStatus()
	want := seqReply{Clients: 1, Lost: 1, Dup: 1, Disorder: 1, Foreign: 2}
	if got != want {
		t.Errorf("seqStatus = %+v, want %+v (events 1,3,2,3,0,6,5 of 1..5)", got, want)
	}
}
