package main

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldsse/herald/presence"
	presenceredis "github.com/heraldsse/herald/presence/redis"
)

// presenceTimings are the Redis registry's liveness settings; zero means
// its defaults (TTL 15 s, checked every 5 s: a dead node's subscriptions are
// gone within 20 s). Only tests change them, to kill nodes without waiting.
type presenceTimings struct {
	ttl, check time.Duration
}

// openPresence opens the presence registry for --store: the node's own in
// memory for memory and bolt, the cluster's in the same Redis for a
// redis:// store.
func (c historyConfig) openPresence(ctx context.Context, t presenceTimings, logger *slog.Logger) (presence.Registry, error) {
	if strings.HasPrefix(c.store, "redis") {
		return presenceredis.New(ctx, presenceredis.Options{URL: c.store, TTL: t.ttl, CheckInterval: t.check, Logger: logger})
	}
	return presence.NewMemory(presence.MemoryOptions{})
}
