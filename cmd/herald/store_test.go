package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/store/redis"
	"github.com/heraldsse/herald/tasks"
)

// TestHistoryDefaultsAreTheStores checks that the defaults "herald serve
// -h" shows for the history flags are what every store does by default.
func TestHistoryDefaultsAreTheStores(t *testing.T) {
	if store.DefaultMaxEntries != defaultHistorySize || store.DefaultMaxAge != defaultHistoryAge {
		t.Errorf("the stores keep %d events for %v by default, the flags say %d for %v",
			store.DefaultMaxEntries, store.DefaultMaxAge, defaultHistorySize, defaultHistoryAge)
	}
}

// TestHistoryFlagsReachEachStore checks that the history flags reach the
// options of the store --store names, knob by knob.
func TestHistoryFlagsReachEachStore(t *testing.T) {
	var c historyConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	historyFlags(fs, &c)
	if err := fs.Parse([]string{"--store", "redis://h:1/2", "--redis-stream", "s", "--history-size", "50", "--history-age", "2m",
		"--history", "stocks/**=100/1m", "--history", "system/**=0;chat/**=5000/24h"}); err != nil {
		t.Fatal(err)
	}
	want := store.Retention{Policies: []store.Policy{
		{Pattern: "stocks/**", MaxEntries: 100, MaxAge: time.Minute},
		{Pattern: "system/**", MaxEntries: 0},
		{Pattern: "chat/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
	}, MaxEntries: 50, MaxAge: 2 * time.Minute}
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"memory", fmt.Sprintf("%+v", c.memoryOptions()), fmt.Sprintf("%+v", memory.Options{Retention: want})},
		{"bolt", fmt.Sprintf("%+v", c.boltOptions(logger)), fmt.Sprintf("%+v", bolt.Options{Retention: want, Logger: logger})},
		{"redis", fmt.Sprintf("%+v", c.redisOptions(logger)), fmt.Sprintf("%+v", redis.Options{URL: "redis://h:1/2", Stream: "s", Retention: want, Logger: logger})},
	} {
		if tc.got != tc.want {
			t.Errorf("%s options = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

// TestHistoryDemoPolicies checks that with no --history the demo apps'
// topics get their policies, that "serve -h" shows them, and that the
// apps' topics are the ones the policies name.
func TestHistoryDemoPolicies(t *testing.T) {
	var c historyConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	historyFlags(fs, &c)
	if err := fs.Parse(nil); err != nil {
		t.Fatal(err)
	}
	r := c.retention()
	for topic, want := range map[string]string{
		"stocks/ACME":       "stocks/**",
		apps.MetricsTopic:   "system/**",
		"chat/lobby":        "chat/**",
		tasks.Topic("42"):   "tasks/**",
		apps.SequenceTopic:  "**", // the default
		"anything/of/yours": "**",
	} {
		if got := r.Resolved()[r.PolicyFor(topic)].Pattern; got != want {
			t.Errorf("with no --history, %q is kept by %q, want %q", topic, got, want)
		}
	}
	if got, want := fs.Lookup("history").DefValue, "stocks/**=200/10m;system/**=200/10m;chat/**=5000/24h;tasks/**=5000/24h"; got != want {
		t.Errorf("--history's default reads %q, want %q", got, want)
	}
	// Given once, the flag replaces the demo policies.
	if err := fs.Parse([]string{"--history", "x/*=3"}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(c.retention().Policies); got != "[{x/* 3 0s}]" {
		t.Errorf("policies with --history x/*=3 = %s, want that one alone", got)
	}
}

// TestHistoryFromEnv checks HERALD_HISTORY: entries separated by ';', and
// a bad one refused with the variable's name.
func TestHistoryFromEnv(t *testing.T) {
	for _, tc := range []struct {
		env, want, wantErr string
	}{
		{"stocks/**=100/1m;chat/**=5000/24h;system/**=0", "[{stocks/** 100 1m0s} {chat/** 5000 24h0m0s} {system/** 0 0s}]", ""},
		{" a=1 ; ;b=2;", "[{a 1 0s} {b 2 0s}]", ""},
		{"", "[]", ""}, // no policies: one history for every topic, not the demo's
		{"a=1;a=2", "", `HERALD_HISTORY="a=1;a=2": "a=2": pattern "a" is given twice`},
		{"a=1;=5", "", `HERALD_HISTORY="a=1;=5": "=5": invalid pattern "": empty`},
	} {
		var c historyConfig
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		historyFlags(fs, &c)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		err := applyEnv(fs, func(k string) (string, bool) { return tc.env, k == "HERALD_HISTORY" })
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("HERALD_HISTORY=%q: %v, want an error saying %s", tc.env, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("HERALD_HISTORY=%q: %v", tc.env, err)
		case fmt.Sprint(c.retention().Policies) != tc.want:
			t.Errorf("HERALD_HISTORY=%q gave %v, want %s", tc.env, c.retention().Policies, tc.want)
		}
	}
}

// TestHistoryOpenKeepsPolicies checks, on the stores that run in the
// process, that --history-size bounds what the opened store replays of a
// topic no pattern matches, and --history what it keeps of the others.
func TestHistoryOpenKeepsPolicies(t *testing.T) {
	for _, spec := range []string{"memory", "bolt:" + filepath.Join(t.TempDir(), "h.db")} {
		t.Run(spec[:4], func(t *testing.T) {
			c := historyConfig{store: spec, size: 3}
			if err := c.policies.Set("busy/*=2;live/*=0"); err != nil {
				t.Fatal(err)
			}
			h, err := c.open(t.Context(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			ctx := context.Background()
			for i := range 5 {
				for _, topic := range []string{"t", "busy/x", "live/x"} {
					if _, err := h.Append(ctx, store.Entry{Topic: topic, Event: sse.Event{Data: topic + fmt.Sprint(i)}}); err != nil {
						t.Fatal(err)
					}
				}
			}
			if got := replay(t, h); got != "[t2 t3 busy/x3 t4 busy/x4]" {
				t.Errorf("replay after 5 events on each topic = %s, want the last 3 of t and 2 of busy/x", got)
			}
		})
	}
}

func replay(t *testing.T, l store.Log) string {
	t.Helper()
	p, err := l.Read(t.Context(), store.ID{}, store.Query{Patterns: []string{"**"}, Max: 100})
	if err != nil || !p.Done {
		t.Fatalf("Read(zero) = done %v, %v", p.Done, err)
	}
	var got []string
	for _, e := range p.Entries {
		got = append(got, e.Event.Data)
	}
	return fmt.Sprint(got)
}

// FuzzParsePolicy checks that --history's parser never panics, and that
// what it accepts it writes back in a form that parses to the same policy.
func FuzzParsePolicy(f *testing.F) {
	for _, s := range []string{"stocks/**=100/1m", "chat/*=5000/24h", "system/**=0", "x=-1", "=5", "a=5/soon", "a//b=5", "a=b=5/1h30m", "é/*=1/90s"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := parsePolicy(s)
		if err != nil {
			return
		}
		back, err := parsePolicy(formatPolicy(p))
		if err != nil || back != p {
			t.Fatalf("parsePolicy(%q) = %+v, written %q, parsed back %+v, %v", s, p, formatPolicy(p), back, err)
		}
		if err := (store.Retention{Policies: []store.Policy{p}}).Validate(); err != nil {
			t.Fatalf("parsePolicy(%q) accepted %+v, which the stores refuse: %v", s, p, err)
		}
	})
}
