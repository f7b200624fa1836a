package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldsse/herald/internal/topic"
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

// demoPolicies are the --history policies when none is given: short for
// the demo apps' busy streams (the stock ticker on stocks/<symbol>, the
// metrics dashboard on system/metrics), long for chat rooms and tasks, so
// the chat keeps its history however long the ticker runs. Every other
// topic (demo/sequence, your own) has --history-size and --history-age.
var demoPolicies = []store.Policy{
	{Pattern: "stocks/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
	{Pattern: "system/**", MaxEntries: 200, MaxAge: 10 * time.Minute},
	{Pattern: "chat/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
	{Pattern: "tasks/**", MaxEntries: 5000, MaxAge: 24 * time.Hour},
}

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
	store    string        // --store: memory, bolt:PATH or a redis:// URL
	stream   string        // --redis-stream: the key of a Redis store's stream
	size     int           // --history-size: events the default policy keeps; zero means the store's default
	age      time.Duration // --history-age: how long the default policy keeps an event; zero means the store's default
	policies policiesFlag  // --history: the policies per pattern; unset means demoPolicies
	presence bool          // --presence: add presencePolicy
}

// historyFlags defines the history flags on fs, filling c.
func historyFlags(fs *flag.FlagSet, c *historyConfig) {
	fs.StringVar(&c.store, "store", "memory", "where the history lives: `memory` (this process), bolt:PATH (a file, survives restarts) or redis://HOST:PORT/DB (a Redis Stream several nodes share)")
	fs.StringVar(&c.stream, "redis-stream", redis.DefaultStream, "with a redis:// store, the stream's key; every node of one deployment uses the same")
	fs.Var(&c.policies, "history", "`PATTERN=SIZE[/AGE]`: the topics PATTERN matches keep their newest SIZE events, each for at most AGE (omitted: --history-age); SIZE 0 keeps none, for live-only topics. Repeatable; the first matching pattern wins; in HERALD_HISTORY, separate entries with ';'. Given none: the demo apps' policies below")
	fs.IntVar(&c.size, "history-size", defaultHistorySize, "events kept for replay of topics no --history pattern matches; the oldest go first")
	fs.DurationVar(&c.age, "history-age", defaultHistoryAge, "how long an event of a topic no --history pattern matches is kept, and of one whose pattern gives no AGE")
}

// policiesFlag is the value of --history: the policies in the order given.
type policiesFlag struct {
	list []store.Policy
	set  bool
}

// String returns the policies as --history takes them, separated by ';':
// the demo apps' policies when none was given.
func (p *policiesFlag) String() string {
	if p == nil {
		return ""
	}
	list := p.list
	if !p.set {
		list = demoPolicies
	}
	entries := make([]string, len(list))
	for i, pol := range list {
		entries[i] = formatPolicy(pol)
	}
	return strings.Join(entries, ";")
}

// Set adds the policies of v: one PATTERN=SIZE[/AGE], or several separated
// by ';' (as in HERALD_HISTORY). It refuses a negative or unparsable size,
// an empty or invalid pattern, an unparsable or non-positive age, and a
// pattern given before.
func (p *policiesFlag) Set(v string) error {
	if !p.set {
		p.list, p.set = nil, true
	}
	for entry := range strings.SplitSeq(v, ";") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		pol, err := parsePolicy(entry)
		if err != nil {
			return err
		}
		for _, prev := range p.list {
			if prev.Pattern == pol.Pattern {
				return fmt.Errorf("%q: pattern %q is given twice", entry, pol.Pattern)
			}
		}
		p.list = append(p.list, pol)
	}
	return nil
}

// parsePolicy parses PATTERN=SIZE[/AGE].
func parsePolicy(entry string) (store.Policy, error) {
	i := strings.LastIndex(entry, "=")
	if i < 0 {
		return store.Policy{}, fmt.Errorf("%q: want PATTERN=SIZE[/AGE], as in stocks/**=100/1m", entry)
	}
	pattern, bounds := entry[:i], entry[i+1:]
	if err := topic.ValidatePattern(pattern); err != nil {
		return store.Policy{}, fmt.Errorf("%q: %w", entry, err)
	}
	size, age, hasAge := strings.Cut(bounds, "/")
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 {
		return store.Policy{}, fmt.Errorf("%q: size %q must be a whole number, 0 or more", entry, size)
	}
	pol := store.Policy{Pattern: pattern, MaxEntries: n}
	if hasAge {
		d, err := time.ParseDuration(age)
		if err != nil || d <= 0 {
			return store.Policy{}, fmt.Errorf("%q: age %q must be a positive duration, as in 90s, 10m or 24h", entry, age)
		}
		pol.MaxAge = d
	}
	return pol, nil
}

// formatPolicy is the inverse of parsePolicy.
func formatPolicy(p store.Policy) string {
	s := p.Pattern + "=" + strconv.Itoa(p.MaxEntries)
	if p.MaxAge > 0 {
		s += "/" + formatDuration(p.MaxAge)
	}
	return s
}

// formatDuration writes d as people do: 10m, 24h, 1h30m, 90s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// retention returns the store.Retention the flags describe.
func (c historyConfig) retention() store.Retention {
	policies := c.policies.list
	if !c.policies.set {
		policies = demoPolicies
	}
	if c.presence && !slices.ContainsFunc(policies, func(p store.Policy) bool { return topic.Covers(p.Pattern, presencePolicy.Pattern) }) {
		policies = append(slices.Clip(policies), presencePolicy)
	}
	return store.Retention{Policies: policies, MaxEntries: c.size, MaxAge: c.age}
}

// presencePolicy keeps presence's join and leave events apart from every
// other topic's history, last among the policies: without it they would
// share the default policy's events with the application's topics, and a
// busy room's comings and goings would evict them. A thousand for ten
// minutes covers a watcher's reconnection; one that is away longer reads
// GET /presence again (docs/presence.md). A --history pattern that covers
// presence/** replaces it.
var presencePolicy = store.Policy{Pattern: "presence/**", MaxEntries: 1000, MaxAge: 10 * time.Minute}

// check reports whether --store names a store open can open, and whether
// the policies are valid.
func (c historyConfig) check() error {
	if err := c.retention().Validate(); err != nil {
		return fmt.Errorf("--history (or HERALD_HISTORY): %w", err)
	}
	switch spec := c.store; {
	case spec == "" || spec == "memory", strings.HasPrefix(spec, "redis://"), strings.HasPrefix(spec, "rediss://"):
		return nil
	case strings.HasPrefix(spec, "bolt:"):
		if strings.TrimPrefix(spec, "bolt:") == "" {
			return errors.New("--store bolt: needs a file path, as in bolt:/var/lib/herald/events.db")
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
	return memory.Options{Retention: c.retention()}
}

func (c historyConfig) boltOptions(logger *slog.Logger) bolt.Options {
	return bolt.Options{Retention: c.retention(), Logger: logger}
}

func (c historyConfig) redisOptions(logger *slog.Logger) redis.Options {
	return redis.Options{URL: c.store, Stream: c.stream, Retention: c.retention(), Logger: logger}
}
