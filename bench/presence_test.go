package main

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// TestPresenceScenario runs the presence scenario at 20 subscribers with
// an idle window long enough for one heartbeat of the Redis registry (5 s),
// and checks what it measured: the Redis registry sends commands at rest;
// without it, nothing reaches Redis. (Redis's used_memory moves by some
// 25 KB by itself, which 20 subscribers cannot show through.)
func TestPresenceScenario(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("redis-server not on PATH: %v", err)
		}
		t.Skipf("redis-server not on PATH: %v", err)
	}
	raiseFileLimit()
	c := config{Settle: 50 * time.Millisecond, IdleWindow: 6 * time.Second, ConnsPerLoad: 15, WaitTimeout: 10 * time.Second, Stall: 3 * time.Second, Deadline: time.Minute}
	sr, err := presenceScenario(t.Context(), c, &presenceConfig{subs: 20}, &progress{w: testWriter{t}, start: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	off, mem, red := sr.Results[sr.Impls[0]], sr.Results[sr.Impls[1]], sr.Results[sr.Impls[2]]
	if off.Metrics["redis_cmds_per_s"] != 0 || mem.Metrics["redis_cmds_per_s"] != 0 {
		t.Errorf("without the Redis registry: off %v, memory %v; want no Redis commands", off.Metrics, mem.Metrics)
	}
	if red.Metrics["redis_cmds_per_s"] <= 0 {
		t.Errorf("with the Redis registry: %v; want its commands at rest", red.Metrics)
	}
	t.Log("\n" + presenceMarkdown(sr))
}
