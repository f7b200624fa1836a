package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestClusterScenario runs the cluster scenario at a tiny scale on a
// private redis-server: every subscriber of one node and of three gets
// every event, the ramp finds a rate, and killing a node loses and
// duplicates nothing for clients that reconnect elsewhere.
func TestClusterScenario(t *testing.T) {
	raiseFileLimit()
	c := config{
		Scenarios:    []string{"cluster"},
		Size:         64,
		ConnsPerLoad: 9000,
		WaitTimeout:  20 * time.Second,
		Stall:        5 * time.Second,
		Deadline:     3 * time.Minute,
		Cluster: clusterConfig{
			Nodes: 3, Subs: 12, Rate: 100, Duration: 500 * time.Millisecond, Burst: 20, Publishers: 4,
			RampStart: 200, RampMax: 400, RampStep: 300 * time.Millisecond, RampSubs: 1, RampP99: 5 * time.Second,
			FailSubs: 2, FailRate: 50, FailBefore: 400 * time.Millisecond, FailAfter: time.Second, FailRetry: 200 * time.Millisecond,
		},
	}
	res, err := runAll(t.Context(), c, testWriter{t})
	if err != nil {
		t.Fatalf("runAll: %v", err)
	}
	sr := res.Scenarios[0]
	for _, name := range sr.Impls {
		ir := sr.Results[name]
		if strings.Contains(ir.Error, errNoRedis.Error()) && os.Getenv("CI") != "true" {
			t.Skip("no redis-server on PATH: the cluster scenario needs one")
		}
		if ir.Error != "" {
			t.Fatalf("%s: %s (logs: %q)", name, ir.Error, ir.ServerLog)
		}
		m := ir.Metrics
		for _, k := range []string{"missing", "publish_errors"} {
			if m[k] != 0 {
				t.Errorf("%s: %s = %v, want 0 (notes %q)", name, k, m[k], ir.Notes)
			}
		}
		if want := float64(c.Cluster.Subs) * float64(c.Cluster.Rate) * c.Cluster.Duration.Seconds(); m["samples"] != want {
			t.Errorf("%s: latency samples = %v, want %v", name, m["samples"], want)
		}
		if m["max_rate"] == 0 || m["max_rate_redis"] == 0 {
			t.Errorf("%s: the ramps found no rate within %v: %+v", name, c.Cluster.RampP99, ir.Detail)
		}
	}
	m := sr.Results[sr.Impls[1]].Metrics
	if m["fail_lost"] != 0 || m["fail_dup"] != 0 {
		t.Errorf("failover: lost %v, duplicated %v; want 0 and 0", m["fail_lost"], m["fail_dup"])
	}
	if m["fail_moved"] != float64(c.Cluster.FailSubs) || m["fail_recover_ms_max"] == 0 {
		t.Errorf("failover: %v clients moved, recovery %v ms; want %d moved, each with an event after the kill", m["fail_moved"], m["fail_recover_ms_max"], c.Cluster.FailSubs)
	}
	if md := sr.markdown(); !strings.Contains(md, "3 nodes ÷ 1 node") {
		t.Errorf("table without its ratio column:\n%s", md)
	}
}
