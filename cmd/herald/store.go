package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/bolt"
	"github.com/heraldsse/herald/store/memory"
	"github.com/heraldsse/herald/store/redis"
)

// history is the log a node's hub runs on, which the node closes.
type history interface {
	store.Log
	io.Closer
}

// checkStoreSpec reports whether spec is a --store value openStore takes.
func checkStoreSpec(spec string) error {
	switch {
	case spec == "" || spec == "memory", strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return nil
	case strings.HasPrefix(spec, "bolt:"):
		if strings.TrimPrefix(spec, "bolt:") == "" {
			return fmt.Errorf("--store bolt: needs a file path, as in bolt:/var/lib/herald/events.db")
		}
		return nil
	}
	return fmt.Errorf("--store %q: want memory, bolt:PATH or redis://HOST:PORT/DB", spec)
}

// openStore opens the log that --store names: "memory" (the default),
// "bolt:PATH" for a file on this node, or a redis:// (rediss://) URL for a
// Redis Stream that several nodes share. The history flags bound each.
func openStore(ctx context.Context, spec string, h memory.Options, stream string, logger *slog.Logger) (history, error) {
	if err := checkStoreSpec(spec); err != nil {
		return nil, err
	}
	switch {
	case strings.HasPrefix(spec, "bolt:"):
		return bolt.Open(strings.TrimPrefix(spec, "bolt:"), &bolt.Options{MaxEntries: h.MaxEntries, MaxAge: h.MaxAge, Logger: logger})
	case strings.HasPrefix(spec, "redis"):
		return redis.New(ctx, redis.Options{URL: spec, Stream: stream, MaxLen: int64(h.MaxEntries), MaxAge: h.MaxAge, Logger: logger})
	}
	return memory.New(h), nil
}
