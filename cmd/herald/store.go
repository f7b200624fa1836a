package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/store/redis"
)

// The history flags' defaults: every store's own defaults
// (TestHistoryDefaultsAreTheStores checks that they agree).
const (
	defaultHistorySize = 10_000
	defaultHistoryAge  = time.Hour
)

// history is the log a node's hub runs on, which the node closes.
type history interface {
	store.Log
	io.Closer
}

// historyConfig is what the history flags set: where the history lives and
// how much of it is kept. It is the command's own; open maps it to the
// Options of the store --store names, each of which gets exactly the knobs
// it has.
type historyConfig struct {
	store  string        // --store: memory, bolt:PATH or a redis:// URL
	stream string        // --redis-stream: the key of a Redis store's stream
	size   int           // --history-size: events kept; zero means the store's default
	age    time.Duration // --history-age: how long an event is kept; zero means the store's default
}

// historyFlags defines the history flags on fs, filling c.
func historyFlags(fs *flag.FlagSet, c *historyConfig) {
	fs.StringVar(&c.store, "store", "memory", "where the history lives: `memory` (this process), bolt:PATH (a file, survives restarts) or redis://HOST:PORT/DB (a Redis Stream several nodes share)")
	fs.StringVar(&c.stream, "redis-stream", redis.DefaultStream, "with a redis:// store, the stream's key; every node of one deployment uses the same")
	fs.IntVar(&c.size, "history-size", defaultHistorySize, "events the history keeps for replay; the oldest go first")
	fs.DurationVar(&c.age, "history-age", defaultHistoryAge, "how long the history keeps an event (and a finished task's state)")
}

// check reports whether --store names a store open can open.
func (c historyConfig) check() error {
	switch spec := c.store; {
	case spec == "" || spec == "memory", strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return nil
	case strings.HasPrefix(spec, "bolt:"):
		if strings.TrimPrefix(spec, "bolt:") == "" {
			return fmt.Errorf("--store bolt: needs a file path, as in bolt:/var/lib/herald/events.db")
		}
		return nil
	}
	return fmt.Errorf("--store %q: want memory, bolt:PATH or redis://HOST:PORT/DB", c.store)
}

// open opens the log that --store names: "memory" (the default),
// "bolt:PATH" for a file on this node, or a redis:// (rediss://) URL for a
// Redis Stream that several nodes share.
func (c historyConfig) open(ctx context.Context, logger *slog.Logger) (history, error) {
	if err := c.check(); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(c.store, "bolt:"):
		return bolt.Open(strings.TrimPrefix(c.store, "bolt:"), c.boltOptions(logger))
	case strings.HasPrefix(c.store, "redis"):
		return redis.New(ctx, c.redisOptions(logger))
	}
	return memory.New(c.memoryOptions()), nil
}

func (c historyConfig) memoryOptions() memory.Options {
	return memory.Options{MaxEntries: c.size, MaxAge: c.age}
}

func (c historyConfig) boltOptions(logger *slog.Logger) bolt.Options {
	return bolt.Options{MaxEntries: c.size, MaxAge: c.age, Logger: logger}
}

func (c historyConfig) redisOptions(logger *slog.Logger) redis.Options {
	return redis.Options{URL: c.store, Stream: c.stream, MaxLen: int64(c.size), MaxAge: c.age, Logger: logger}
}
