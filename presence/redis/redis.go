package redis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/store"
)

const (
	// DefaultAddr is the Redis server a Registry connects to when Options
	// names none.
	DefaultAddr = "localhost:6379"

	// DefaultPrefix is the key prefix when Options.Prefix is empty.
	DefaultPrefix = "herald:presence"

	// DefaultTTL is how long a node's liveness key lives unless refreshed,
	// when Options.TTL is zero.
	DefaultTTL = 15 * time.Second

	// DefaultCheckInterval is how often a node looks for dead nodes, when
	// Options.CheckInterval is zero.
	DefaultCheckInterval = 5 * time.Second

	// DefaultFlushInterval is how long joins and leaves gather before they
	// are written in one round trip, when Options.FlushInterval is zero.
	DefaultFlushInterval = 100 * time.Millisecond

	// DefaultPageSize is how many records one HSCAN asks for, when
	// Options.PageSize is zero.
	DefaultPageSize = 1000

	// TombstoneTTL is how long Redis remembers that a node was reaped, so
	// that the node, should it come back within that time, reports its
	// records as restored (see [presence.Change]).
	TombstoneTTL = 24 * time.Hour

	// maxBatch and maxBatchBytes bound one write script's records.
	maxBatch      = 1000
	maxBatchBytes = 1 << 20

	// minBackoff is the first wait before writing again after a failure;
	// it doubles up to the heartbeat interval.
	minBackoff = 50 * time.Millisecond
)

// Options configures a [Registry]. The zero value connects to
// localhost:6379 and uses the defaults above.
type Options struct {
	// Client is the Redis client to use; the Registry does not close it.
	// Nil means a client the Registry creates from URL or Addr and closes
	// in [Registry.Close].
	Client goredis.UniversalClient

	// URL is a redis:// or rediss:// URL (see goredis.ParseURL), used when
	// Client is nil. It wins over Addr.
	URL string

	// Addr is the host:port of the Redis server, used when Client is nil and
	// URL is empty. Empty means DefaultAddr.
	Addr string

	// Prefix starts every key; nodes sharing a registry use the same one.
	// It may not contain '{' or '}'. Empty means DefaultPrefix.
	Prefix string

	// Node is this node's ID (see [presence.CheckNode]); empty means
	// [presence.NewNodeID], a new one per process. Two running registries
	// must not share one.
	Node string

	// TTL is how long this node's liveness key lives unless refreshed: a
	// node that stops refreshing it is dead to the others after TTL. Zero
	// means DefaultTTL.
	TTL time.Duration

	// Heartbeat is how often the liveness key is refreshed; it must be
	// shorter than TTL. Zero means TTL/3.
	Heartbeat time.Duration

	// CheckInterval is how often this node looks for dead nodes to reap. A
	// dead node is reaped within TTL + CheckInterval, plus the time to read
	// its records. Zero means DefaultCheckInterval.
	CheckInterval time.Duration

	// FlushInterval is how long joins and leaves gather before they are
	// written together: the first change after a write waits this long.
	// Zero means DefaultFlushInterval.
	FlushInterval time.Duration

	// PageSize is how many records one HSCAN of List or of a reaping asks
	// for. Zero means DefaultPageSize.
	PageSize int

	// Logger receives operational messages: Redis lost and regained,
	// nodes reaped, records restored. Nil discards them.
	Logger *slog.Logger
}

// Registry is a [presence.Registry] shared through Redis. Create it with
// [New]; it is safe for concurrent use.
type Registry struct {
	rdb       goredis.UniversalClient
	owned     bool
	node      string
	keys      keys
	ttl       time.Duration
	heartbeat time.Duration
	check     time.Duration
	flush     time.Duration
	page      int
	logger    *slog.Logger
	local     *presence.Memory // this node's records, the truth its hash copies

	mu        sync.Mutex
	closed    bool
	closeOnce sync.Once
	pending   map[string]*presence.Subscription // changes not yet written; nil: a leave
	rewrite   bool                              // pending was dropped: write every record again

	kick  chan struct{}   // a change is pending (capacity 1)
	syncs chan chan error // Sync requests
	done  chan struct{}   // closed by Close
	stop  context.CancelFunc
	wg    sync.WaitGroup

	// quietUntil (Unix nanoseconds) is when this node may reap again after
	// it lost Redis: other nodes may be coming back as well, and their keys
	// expired only because nobody could reach Redis.
	quietUntil atomic.Int64

	// Owned by the write loop.
	needRegister bool // the liveness key is gone: register before writing
	restore      bool // a node reaped this node: report its records restored
	down         bool // the last write failed (to log changes of state once)

	watchMu  sync.Mutex
	watchers map[*watcher]struct{}
	notifyMu sync.Mutex // one Change at a time
}

type watcher struct {
	fn      func(presence.Change)
	stopped atomic.Bool
}

var _ presence.Registry = (*Registry)(nil)

// New registers this node in Redis and starts its goroutines: the writer of
// joins, leaves and heartbeats, and the reaper of dead nodes. It returns an
// error wrapping [store.ErrUnavailable] when Redis does not answer within
// ctx, and one wrapping [presence.ErrInvalid] for invalid options; in both
// cases it closes the client it created.
func New(ctx context.Context, opts Options) (*Registry, error) {
	r := &Registry{
		rdb:       opts.Client,
		node:      opts.Node,
		ttl:       opts.TTL,
		heartbeat: opts.Heartbeat,
		check:     opts.CheckInterval,
		flush:     opts.FlushInterval,
		page:      opts.PageSize,
		logger:    opts.Logger,
		pending:   make(map[string]*presence.Subscription),
		kick:      make(chan struct{}, 1),
		syncs:     make(chan chan error),
		done:      make(chan struct{}),
		watchers:  make(map[*watcher]struct{}),
	}
	if err := r.configure(opts.Prefix); err != nil {
		return nil, fmt.Errorf("presence/redis: new: %w", err)
	}
	local, err := presence.NewMemory(presence.MemoryOptions{Node: r.node})
	if err != nil {
		return nil, fmt.Errorf("presence/redis: new: %w", err)
	}
	r.local = local
	if r.rdb == nil {
		var o *goredis.Options
		if opts.URL != "" {
			if o, err = goredis.ParseURL(opts.URL); err != nil {
				return nil, fmt.Errorf("presence/redis: new: %w", err)
			}
		} else {
			o = &goredis.Options{Addr: opts.Addr}
			if o.Addr == "" {
				o.Addr = DefaultAddr
			}
		}
		// The loops retry on their own schedule; a call fails fast.
		o.MaxRetries = -1
		o.ContextTimeoutEnabled = true
		r.rdb, r.owned = goredis.NewClient(o), true
	}
	if err := r.register(ctx); err != nil {
		if !errors.Is(err, errReaping) {
			if r.owned {
				r.rdb.Close()
			}
			return nil, fmt.Errorf("presence/redis: new, node %q: %w", r.node, err)
		}
		// A node reaps this node ID's records of an earlier run: the
		// writer registers once it is done.
		r.kickNow()
	}
	loopCtx, stop := context.WithCancel(context.Background())
	r.stop = stop
	r.wg.Add(2)
	go r.writeLoop(loopCtx)
	go r.reapLoop(loopCtx)
	return r, nil
}

// configure applies the defaults and checks the options.
func (r *Registry) configure(prefix string) error {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	if err := checkPrefix(prefix); err != nil {
		return err
	}
	r.keys = newKeys(prefix)
	if r.node == "" {
		r.node = presence.NewNodeID()
	}
	if r.ttl == 0 {
		r.ttl = DefaultTTL
	}
	if r.heartbeat == 0 {
		r.heartbeat = r.ttl / 3
	}
	if r.check == 0 {
		r.check = DefaultCheckInterval
	}
	if r.flush == 0 {
		r.flush = DefaultFlushInterval
	}
	if r.page == 0 {
		r.page = DefaultPageSize
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case r.ttl < time.Millisecond:
		return fmt.Errorf("%w: TTL %v: want at least 1ms", presence.ErrInvalid, r.ttl)
	case r.heartbeat <= 0 || r.heartbeat >= r.ttl:
		return fmt.Errorf("%w: heartbeat %v: want more than 0 and less than the TTL, %v", presence.ErrInvalid, r.heartbeat, r.ttl)
	case r.check <= 0:
		return fmt.Errorf("%w: check interval %v: want more than 0", presence.ErrInvalid, r.check)
	case r.flush <= 0:
		return fmt.Errorf("%w: flush interval %v: want more than 0", presence.ErrInvalid, r.flush)
	case r.page <= 0:
		return fmt.Errorf("%w: page size %d: want more than 0", presence.ErrInvalid, r.page)
	}
	return nil
}

// Node returns this node's ID.
func (r *Registry) Node() string { return r.node }

// Join registers sub on this node (see [presence.Registry.Join]). It
// returns at once; the record reaches Redis with the next write, within
// FlushInterval while Redis answers.
func (r *Registry) Join(sub presence.Subscription) (presence.Subscription, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return presence.Subscription{}, fmt.Errorf("presence/redis: join %q: %w", sub.ID, presence.ErrClosed)
	}
	s, err := r.local.Join(sub)
	if err != nil {
		return presence.Subscription{}, err
	}
	r.queue(s.ID, &s)
	return s, nil
}

// Leave removes the subscription id from this node (see
// [presence.Registry.Leave]); Redis forgets it with the next write.
func (r *Registry) Leave(id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("presence/redis: leave %q: %w", id, presence.ErrClosed)
	}
	if _, err := r.local.Get(context.Background(), id); err != nil {
		if errors.Is(err, presence.ErrNotFound) {
			return nil
		}
		return err
	}
	if err := r.local.Leave(id); err != nil {
		return err
	}
	r.queue(id, nil)
	return nil
}

// queue records a change for the write loop; r.mu is held. Changes to one
// ID coalesce. When more changes wait than this node has records (Redis
// was away a while), they are dropped for a rewrite of every record, so
// that what waits stays bounded by what the node holds.
func (r *Registry) queue(id string, s *presence.Subscription) {
	if !r.rewrite {
		r.pending[id] = s
		if len(r.pending) > 2*maxBatch && len(r.pending) > 2*r.local.Len() {
			r.rewriteAll()
		}
	}
	r.kickNow()
}

// rewriteAll drops the pending changes: the next write registers this node
// again, writing every record. r.mu is held.
func (r *Registry) rewriteAll() {
	r.pending = make(map[string]*presence.Subscription)
	r.rewrite = true
}

// Sync writes the changes waiting now (and registers this node again if
// Redis lost it) and returns when Redis has them. It returns an error
// wrapping [store.ErrUnavailable] when Redis cannot be reached; the changes
// stay queued and are written once it can.
func (r *Registry) Sync(ctx context.Context) error {
	reply := make(chan error, 1)
	select {
	case r.syncs <- reply:
	case <-r.done:
		return fmt.Errorf("presence/redis: sync: %w", presence.ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("presence/redis: sync: %w", ctx.Err())
	}
	select {
	case err := <-reply:
		return err
	case <-r.done:
		return fmt.Errorf("presence/redis: sync: %w", presence.ErrClosed)
	case <-ctx.Done():
		return fmt.Errorf("presence/redis: sync: %w", ctx.Err())
	}
}

// Get returns the subscription id of any node: this node's from memory,
// another's with one round trip per node set read (SMEMBERS, then one HGET
// per node, pipelined).
func (r *Registry) Get(ctx context.Context, id string) (presence.Subscription, error) {
	s, err := r.local.Get(ctx, id)
	if !errors.Is(err, presence.ErrNotFound) {
		if errors.Is(err, presence.ErrClosed) {
			return s, fmt.Errorf("presence/redis: get %q: %w", id, presence.ErrClosed)
		}
		return s, err
	}
	op := "get " + id
	nodes, err := r.others(ctx, op)
	if err != nil {
		return presence.Subscription{}, err
	}
	if len(nodes) > 0 {
		cmds := make([]*goredis.StringCmd, len(nodes))
		r.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			for i, n := range nodes {
				cmds[i] = p.HGet(ctx, r.keys.subs(n), id)
			}
			return nil
		})
		for i, c := range cmds {
			v, err := c.Result()
			switch {
			case err == nil:
				return decode(nodes[i], id, v)
			case !errors.Is(err, goredis.Nil): // Nil: not on that node
				return presence.Subscription{}, r.fail(op, err)
			}
		}
	}
	return presence.Subscription{}, fmt.Errorf("presence/redis: get %q: %w", id, presence.ErrNotFound)
}

// List yields the subscriptions of every node in the set, dead ones not yet
// reaped included, node by node, a page (HSCAN COUNT PageSize) at a time.
// It first writes this node's pending changes (as [Registry.Sync]), so a
// node lists what it joined. See [presence.Registry.List].
func (r *Registry) List(ctx context.Context) iter.Seq2[presence.Subscription, error] {
	return func(yield func(presence.Subscription, error) bool) {
		if r.isClosed() {
			yield(presence.Subscription{}, fmt.Errorf("presence/redis: list: %w", presence.ErrClosed))
			return
		}
		if err := r.Sync(ctx); err != nil {
			yield(presence.Subscription{}, fmt.Errorf("presence/redis: list: %w", err))
			return
		}
		nodes, err := r.rdb.SMembers(ctx, r.keys.nodes()).Result()
		if err != nil {
			yield(presence.Subscription{}, r.fail("list", err))
			return
		}
		slices.Sort(nodes)
		for _, node := range nodes {
			for s, err := range r.scan(ctx, node) {
				if !yield(s, err) {
					return
				}
				if err != nil && !errors.Is(err, ErrCorrupt) {
					return
				}
			}
		}
	}
}

// scan yields the records of node's hash a page at a time; an error other
// than [ErrCorrupt] ends it.
func (r *Registry) scan(ctx context.Context, node string) iter.Seq2[presence.Subscription, error] {
	return func(yield func(presence.Subscription, error) bool) {
		key := r.keys.subs(node)
		var cursor uint64
		for {
			kv, next, err := r.rdb.HScan(ctx, key, cursor, "", int64(r.page)).Result()
			if err != nil {
				yield(presence.Subscription{}, r.fail("list node "+node, err))
				return
			}
			for i := 0; i+1 < len(kv); i += 2 {
				if !yield(decode(node, kv[i], kv[i+1])) {
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	}
}

// Count returns this node's count, from memory, and the cluster's: this
// node's plus HLEN of every other node's hash (SMEMBERS, then one
// pipelined round trip). When Redis cannot be reached it returns this
// node's count in both fields, with an error wrapping
// [store.ErrUnavailable].
func (r *Registry) Count(ctx context.Context) (presence.Counts, error) {
	c, err := r.local.Count(ctx)
	if err != nil {
		return presence.Counts{}, fmt.Errorf("presence/redis: count: %w", presence.ErrClosed)
	}
	nodes, err := r.others(ctx, "count")
	if err != nil || len(nodes) == 0 {
		return c, err
	}
	cmds := make([]*goredis.IntCmd, len(nodes))
	if _, err := r.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, n := range nodes {
			cmds[i] = p.HLen(ctx, r.keys.subs(n))
		}
		return nil
	}); err != nil {
		return c, r.fail("count", err)
	}
	for _, cmd := range cmds {
		c.Cluster += int(cmd.Val())
	}
	return c, nil
}

// others returns the IDs of the nodes in the set but this one.
func (r *Registry) others(ctx context.Context, op string) ([]string, error) {
	if r.isClosed() {
		return nil, fmt.Errorf("presence/redis: %s: %w", op, presence.ErrClosed)
	}
	nodes, err := r.rdb.SMembers(ctx, r.keys.nodes()).Result()
	if err != nil {
		return nil, r.fail(op, err)
	}
	return slices.DeleteFunc(nodes, func(n string) bool { return n == r.node }), nil
}

// Watch calls fn with each subscription this node reaps from a dead node
// (Active false) and, when this node comes back after others reaped it,
// with each of its records it registers again (Active true). See
// [presence.Registry.Watch]. fn is not called after stop returns, except
// for a call already running on another goroutine; fn may call stop, but
// not Sync or List, which wait for the goroutine that calls fn.
func (r *Registry) Watch(fn func(presence.Change)) (stop func()) {
	w := &watcher{fn: fn}
	r.watchMu.Lock()
	defer r.watchMu.Unlock()
	if r.isClosed() {
		return func() {}
	}
	r.watchers[w] = struct{}{}
	return func() {
		w.stopped.Store(true)
		r.watchMu.Lock()
		delete(r.watchers, w)
		r.watchMu.Unlock()
	}
}

// notify calls every watcher with c, one change at a time.
func (r *Registry) notify(c presence.Change) {
	r.watchMu.Lock()
	ws := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		ws = append(ws, w)
	}
	r.watchMu.Unlock()
	r.notifyMu.Lock()
	defer r.notifyMu.Unlock()
	for _, w := range ws {
		if !w.stopped.Load() {
			w.fn(c)
		}
	}
}

// Close stops the goroutines, waiting for a reaping in progress to finish
// reporting its current page and record its progress (another node
// resumes there), and says goodbye: one script deletes this
// node's hash and liveness key and removes it from the set. It returns an
// error wrapping [store.ErrUnavailable] when Redis cannot be reached
// within ctx; the node's records then expire and are reaped by the others
// as a dead node's. It closes the Redis client if New created it. Later
// calls wait for the first to finish and return nil.
func (r *Registry) Close(ctx context.Context) (err error) {
	r.closeOnce.Do(func() { err = r.close(ctx) })
	return err
}

func (r *Registry) close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	r.stop()
	close(r.done)
	r.wg.Wait()
	r.local.Close(ctx)
	r.watchMu.Lock()
	clear(r.watchers)
	r.watchMu.Unlock()
	err := goodbyeScript.Run(ctx, r.rdb,
		[]string{r.keys.alive(r.node), r.keys.subs(r.node), r.keys.nodes()}, r.node).Err()
	if err != nil {
		err = fmt.Errorf("presence/redis: close, node %q: goodbye: %w: %w", r.node, store.ErrUnavailable, err)
	}
	if r.owned {
		if cerr := r.rdb.Close(); cerr != nil && err == nil {
			err = fmt.Errorf("presence/redis: close: %w", cerr)
		}
	}
	return err
}

func (r *Registry) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// fail wraps err from Redis for operation op: [presence.ErrClosed] after
// Close, the context's error when it ended, else [store.ErrUnavailable].
func (r *Registry) fail(op string, err error) error {
	switch {
	case r.isClosed():
		return fmt.Errorf("presence/redis: %s: %w (%v)", op, presence.ErrClosed, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("presence/redis: %s: %w", op, err)
	}
	r.quietUntil.Store(time.Now().Add(r.ttl).UnixNano())
	return fmt.Errorf("presence/redis: %s: %w: %w", op, store.ErrUnavailable, err)
}
