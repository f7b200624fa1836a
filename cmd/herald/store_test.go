package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/store/redis"
)

// TestHistoryDefaultsAreTheStores checks that the defaults "herald serve
// -h" shows for the history flags are what every store does by default.
func TestHistoryDefaultsAreTheStores(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"memory size", memory.DefaultMaxEntries, defaultHistorySize},
		{"memory age", memory.DefaultMaxAge, defaultHistoryAge},
		{"bolt size", bolt.DefaultMaxEntries, defaultHistorySize},
		{"bolt age", bolt.DefaultMaxAge, defaultHistoryAge},
		{"redis size", redis.DefaultMaxLen, defaultHistorySize},
		{"redis age", redis.DefaultMaxAge, defaultHistoryAge},
	} {
		if c.got != c.want {
			t.Errorf("%s: the store's default is %v, the flag's %v", c.name, c.got, c.want)
		}
	}
}

// TestHistoryFlagsReachEachStore checks that the history flags reach the
// options of the store --store names, knob by knob.
func TestHistoryFlagsReachEachStore(t *testing.T) {
	var c historyConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	historyFlags(fs, &c)
	if err := fs.Parse([]string{"--store", "redis://h:1/2", "--redis-stream", "s", "--history-size", "50", "--history-age", "2m"}); err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		name      string
		got, want string
	}{
		{"memory", fmt.Sprintf("%+v", c.memoryOptions()), fmt.Sprintf("%+v", memory.Options{MaxEntries: 50, MaxAge: 2 * time.Minute})},
		{"bolt", fmt.Sprintf("%+v", c.boltOptions(logger)), fmt.Sprintf("%+v", bolt.Options{MaxEntries: 50, MaxAge: 2 * time.Minute, Logger: logger})},
		{"redis", fmt.Sprintf("%+v", c.redisOptions(logger)), fmt.Sprintf("%+v", redis.Options{URL: "redis://h:1/2", Stream: "s", MaxLen: 50, MaxAge: 2 * time.Minute, Logger: logger})},
	} {
		if tc.got != tc.want {
			t.Errorf("%s options = %s, want %s", tc.name, tc.got, tc.want)
		}
	}
}

// TestHistoryOpenKeepsSize checks, on the stores that run in the process,
// that --history-size bounds what the opened store replays.
func TestHistoryOpenKeepsSize(t *testing.T) {
	for _, spec := range []string{"memory", "bolt:" + filepath.Join(t.TempDir(), "h.db")} {
		t.Run(spec[:4], func(t *testing.T) {
			h, err := historyConfig{store: spec, size: 3}.open(t.Context(), slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			defer h.Close()
			ctx := context.Background()
			for i := range 5 {
				if _, err := h.Append(ctx, "t", sse.Event{Data: fmt.Sprint(i)}); err != nil {
					t.Fatal(err)
				}
			}
			if got := replay(t, h); got != "[2 3 4]" {
				t.Errorf("replay after 5 events with --history-size 3 = %s, want [2 3 4]", got)
			}
		})
	}
}

func replay(t *testing.T, l store.Log) string {
	t.Helper()
	var got []string
	for e, err := range l.After(t.Context(), store.ID{}) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, e.Event.Data)
	}
	return fmt.Sprint(got)
}
