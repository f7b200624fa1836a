package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/store"
)

const (
	// DefaultAddr is the Redis server a Log connects to when Options names
	// none.
	DefaultAddr = "localhost:6379"

	// DefaultStream is the stream key a Log uses when Options.Stream is
	// empty.
	DefaultStream = "herald:events"

	// DefaultStreamLen is how many entries, about, the shared stream keeps
	// for followers when Options.StreamLen is zero.
	DefaultStreamLen = 20_000

	// DefaultBackoff is the longest a Follow waits between attempts to
	// reach Redis when Options.Backoff is zero.
	DefaultBackoff = 2 * time.Second

	// DefaultBlock is how long one XREAD of a Follow blocks when
	// Options.Block is zero.
	DefaultBlock = 5 * time.Second

	// followChunk is how many entries one XRANGE of a Follow reads.
	followChunk = 512

	// maxRounds bounds the round trips of one Read; maxFetch the entries
	// one XRANGE of a Read asks for. A Read that stops there is not Done.
	maxRounds = 4
	maxFetch  = 1024

	// minBackoff is the first wait of a Follow after a failure.
	minBackoff = 50 * time.Millisecond
)

// Stream entry fields.
const (
	fieldTopic = "topic"
	fieldType  = "type"
	fieldData  = "data"
	fieldRetry = "retry"
	// fieldOwnID, fieldAlso and fieldPrivate hold what Mercure's updates
	// add: the publisher's own ID, the alternate topics (joined by LF,
	// which no topic holds) and "1" for a private update; absent otherwise.
	fieldOwnID   = "id"
	fieldAlso    = "also"
	fieldPrivate = "private"
	// fieldPrev holds the ID of the entry before this one ("0-0" for the
	// first), so that the oldest entry kept tells which ID was trimmed
	// last: Redis's max-deleted-entry-id counts XDEL only, not trimming.
	fieldPrev = "prev"
)

// policiesScript records the policies a node runs with, and returns the
// ID after which every event is in the history streams of those policies:
// the shared stream's last ID when the policies were first recorded, or
// changed (before then, events went to other streams or to the shared
// stream alone), else the one recorded then. When they changed, it also
// returns the history streams of the policies recorded before.
//
//	KEYS[1]  the hash of the log's policies (fields "policies", "since")
//	KEYS[2]  the shared stream
//	ARGV[1]  the history streams of the policies, in order, joined by "\n"
var policiesScript = goredis.NewScript(`
local cur = redis.call('HGET', KEYS[1], 'policies')
if cur == ARGV[1] then
  return {redis.call('HGET', KEYS[1], 'since') or '0-0', ''}
end
local since = '0-0'
if redis.call('EXISTS', KEYS[2]) == 1 then
  local info = redis.call('XINFO', 'STREAM', KEYS[2])
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then since = info[i + 1] end
  end
end
redis.call('HSET', KEYS[1], 'policies', ARGV[1], 'since', since)
return {since, cur or ''}
`)

// Options configures a [Log]. The zero value connects to localhost:6379 and
// uses the defaults below.
type Options struct {
	// Client is the Redis client to use. The Log does not close it. Nil
	// means a client the Log creates from URL or Addr and closes in
	// [Log.Close]. A *goredis.Client gives each running Follow a dedicated
	// connection, which [Log.Close] and a cancelled context interrupt at
	// once; with other clients (cluster, ring) a Follow notices them within
	// one second.
	Client goredis.UniversalClient

	// URL is a redis:// or rediss:// URL (see goredis.ParseURL), used when
	// Client is nil. It wins over Addr.
	URL string

	// Addr is the host:port of the Redis server, used when Client is nil and
	// URL is empty. Empty means DefaultAddr.
	Addr string

	// PoolSize is the connection pool size of the client the Log creates.
	// Each running Follow holds one connection for as long as it runs. Zero
	// means 10 per GOMAXPROCS plus 16.
	PoolSize int

	// Stream is the key of the Redis Stream that carries every event to
	// every node's followers; the history streams and the policies' hash
	// are named after it (see [Log.Keys]). Every node serving one log uses
	// the same key, and the same Retention. Empty means DefaultStream. With
	// a cluster client it must hold a hash tag ("{herald}:events"), so that
	// all the log's keys share a slot.
	Stream string

	// StreamLen is how many entries the shared stream keeps, about
	// (XADD MAXLEN ~): enough for every node's follower to read each one,
	// however far behind it falls in a burst. A node whose follower falls
	// further behind misses entries and is told so ([store.ErrEvicted]).
	// Zero means DefaultStreamLen; negative means no bound.
	StreamLen int64

	// Retention is how much history each topic keeps: one history stream
	// per policy, trimmed by count (XADD MAXLEN ~) and age (XTRIM MINID ~,
	// by Redis's clock, when someone appends to that policy). The zero
	// value keeps 10,000 events of every topic for an hour.
	Retention store.Retention

	// Backoff is the longest a Follow waits between attempts to reach Redis
	// after a failure; the wait starts at 50ms and doubles, with jitter.
	// Zero means DefaultBackoff.
	Backoff time.Duration

	// Block is how long one XREAD BLOCK of a Follow waits for new entries
	// before it asks again. Zero means DefaultBlock.
	Block time.Duration

	// Logger receives operational messages (Redis lost and regained by a
	// Follow). Nil discards them.
	Logger *slog.Logger

	// exactTrim trims to exactly StreamLen and each policy's bounds ("="
	// instead of "~"), which costs Redis more work per append. Only tests
	// set it (export_test.go), to check retention bounds exactly.
	exactTrim bool
}

// Log is a [store.Log] in Redis Streams: one that every node follows, and
// one of history per policy. It also implements [io.Closer] and
// [store.Pinger]. Create it with [New]; it is safe for concurrent use by
// any number of goroutines.
type Log struct {
	rdb       goredis.UniversalClient
	owned     bool // rdb was created by New and is closed by Close
	stream    string
	streamLen int64 // 0: no bound
	retention store.Retention
	histories []history // in the order of Retention.Resolved
	meta      string    // the policies' hash
	since     store.ID  // every event after it is in the history streams
	approx    bool
	backoff   time.Duration
	block     time.Duration
	logger    *slog.Logger

	done chan struct{} // closed by Close

	// ctx is the context of the batches of appends; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	kick   chan struct{} // buffered 1: appends are queued
	wg     sync.WaitGroup

	mu      sync.Mutex
	closed  bool
	readers map[*reader]struct{} // running Follow iterations
	queue   []*request           // appends waiting for a batcher
}

// history is one policy and its history stream.
type history struct {
	store.Policy
	key string
}

var (
	_ store.Log    = (*Log)(nil)
	_ io.Closer    = (*Log)(nil)
	_ store.Pinger = (*Log)(nil)
)

// Keys returns the Redis keys of the log: the shared stream, the history
// stream of each policy in the order of [store.Retention.Resolved] (the
// default's last), and the hash that records the policies.
func (l *Log) Keys() (stream string, histories []string, policies string) {
	for _, h := range l.histories {
		histories = append(histories, h.key)
	}
	return l.stream, histories, l.meta
}

// New returns a Log on the stream opts.Stream and checks that Redis
// answers within ctx, and records the policies it runs with: when they are
// not those recorded before, events before now are no longer replayed (a
// resume from before then is told it lost them), and the history streams
// of the policies recorded before are deleted. It returns an error wrapping
// [store.ErrUnavailable] when Redis does not answer, one wrapping
// [store.ErrInvalidPolicy] for an invalid opts.Retention, and an error for
// an invalid opts.URL or a cluster client with a stream without a hash
// tag; in every case it closes the client it created.
func New(ctx context.Context, opts Options) (*Log, error) {
	l := &Log{
		rdb:       opts.Client,
		stream:    opts.Stream,
		streamLen: opts.StreamLen,
		retention: opts.Retention,
		approx:    !opts.exactTrim,
		backoff:   opts.Backoff,
		block:     opts.Block,
		logger:    opts.Logger,
		done:      make(chan struct{}),
		readers:   make(map[*reader]struct{}),
	}
	if l.stream == "" {
		l.stream = DefaultStream
	}
	if err := opts.Retention.Validate(); err != nil {
		return nil, fmt.Errorf("redis: new, stream %q: %w", l.stream, err)
	}
	if _, ok := l.rdb.(*goredis.ClusterClient); ok && !hasHashTag(l.stream) {
		return nil, fmt.Errorf("redis: new: stream %q has no hash tag, as in {herald}:events: a cluster needs one so that the log's keys share a slot", l.stream)
	}
	resolved := opts.Retention.Resolved()
	for i, p := range resolved {
		key := l.stream + ":history"
		if i < len(resolved)-1 {
			key += ":" + p.Pattern
		}
		l.histories = append(l.histories, history{Policy: p, key: key})
	}
	l.meta = l.stream + ":policies"
	switch {
	case l.streamLen == 0:
		l.streamLen = DefaultStreamLen
	case l.streamLen < 0:
		l.streamLen = 0
	}
	if l.backoff <= 0 {
		l.backoff = DefaultBackoff
	}
	if l.block <= 0 {
		l.block = DefaultBlock
	}
	if l.logger == nil {
		l.logger = slog.New(slog.DiscardHandler)
	}
	if l.rdb == nil {
		var o *goredis.Options
		if opts.URL != "" {
			var err error
			if o, err = goredis.ParseURL(opts.URL); err != nil {
				return nil, fmt.Errorf("redis: new: %w", err)
			}
		} else {
			o = &goredis.Options{Addr: opts.Addr}
			if o.Addr == "" {
				o.Addr = DefaultAddr
			}
		}
		o.PoolSize = opts.PoolSize
		if o.PoolSize <= 0 {
			o.PoolSize = 10*runtime.GOMAXPROCS(0) + 16
		}
		// A retried XADD whose reply was lost would store the event twice;
		// the caller gets ErrUnavailable instead and decides.
		o.MaxRetries = -1
		o.ContextTimeoutEnabled = true
		l.rdb, l.owned = goredis.NewClient(o), true
	}
	if err := l.recordPolicies(ctx); err != nil {
		if l.owned {
			l.rdb.Close()
		}
		return nil, fmt.Errorf("redis: new, stream %q: %w: %w", l.stream, store.ErrUnavailable, err)
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.kick = make(chan struct{}, 1)
	for range batchers {
		l.wg.Go(l.batcher)
	}
	return l, nil
}

// hasHashTag reports whether key has a non-empty hash tag, "{...}".
func hasHashTag(key string) bool {
	_, rest, ok := strings.Cut(key, "{")
	tag, _, ok2 := strings.Cut(rest, "}")
	return ok && ok2 && tag != ""
}

// recordPolicies runs policiesScript, sets l.since and deletes the history
// streams of the policies recorded before, if they changed.
func (l *Log) recordPolicies(ctx context.Context) error {
	keys := make([]string, len(l.histories))
	for i, h := range l.histories {
		keys[i] = h.key
	}
	res, err := policiesScript.Run(ctx, l.rdb, []string{l.meta, l.stream}, strings.Join(keys, "\n")).StringSlice()
	if err != nil {
		return err
	}
	if len(res) != 2 {
		return fmt.Errorf("recording the policies returned %q", res)
	}
	if l.since, err = store.ParseID(res[0]); err != nil {
		return fmt.Errorf("recording the policies returned %q: %w", res[0], err)
	}
	var stale []string
	for key := range strings.SplitSeq(res[1], "\n") {
		if key != "" && !slices.Contains(keys, key) {
			stale = append(stale, key)
		}
	}
	if len(stale) > 0 {
		if err := l.rdb.Del(ctx, stale...).Err(); err != nil {
			return fmt.Errorf("delete the history streams of earlier policies: %w", err)
		}
		l.logger.LogAttrs(ctx, slog.LevelInfo, "redis store: policies changed; deleted the history of earlier ones",
			slog.String("stream", l.stream), slog.Any("deleted", stale), slog.String("replayed after", l.since.String()))
	}
	return nil
}

// Ping sends PING to Redis. It returns an error wrapping
// [store.ErrUnavailable] when Redis does not answer, and one wrapping
// [store.ErrClosed] after [Log.Close].
func (l *Log) Ping(ctx context.Context) error {
	if l.isClosed() {
		return fmt.Errorf("redis: ping: %w", store.ErrClosed)
	}
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		return l.fail("ping", err)
	}
	return nil
}

// Close stops the Log: afterwards Append, Read, Follow and Ping fail with
// errors wrapping [store.ErrClosed], and running Follow iterations yield
// such an error and end, interrupting their blocking reads. It closes the
// Redis client if New created it, never one passed in Options.Client; the
// stream itself is left in Redis. Close is idempotent: later calls return
// nil.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	for r := range l.readers {
		r.kick()
	}
	queued := l.queue
	l.queue = nil
	l.mu.Unlock()
	for _, r := range queued {
		r.err = store.ErrClosed
		close(r.done)
	}
	l.cancel() // a batch in Redis fails, and its appends report ErrClosed
	l.wg.Wait()
	if l.owned {
		if err := l.rdb.Close(); err != nil {
			return fmt.Errorf("redis: close: %w", err)
		}
	}
	return nil
}

func (l *Log) isClosed() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.closed
}

// fail wraps err from Redis for operation op: [store.ErrClosed] after
// Close, the context's error when it ended, else [store.ErrUnavailable].
func (l *Log) fail(op string, err error) error {
	switch {
	case l.isClosed():
		return fmt.Errorf("redis: %s: %w (%v)", op, store.ErrClosed, err)
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("redis: %s: %w", op, err)
	}
	return fmt.Errorf("redis: %s, stream %q: %w: %w", op, l.stream, store.ErrUnavailable, err)
}

// streamInfo is what XINFO STREAM tells about the stream.
type streamInfo struct {
	last      store.ID // last ID generated; zero when the stream does not exist
	first     store.ID // oldest entry kept
	firstPrev store.ID // ID of the entry before first (its fieldPrev)
	length    int64    // entries kept
	added     int64    // entries ever added (Redis 7.0 or later)
}

// evicted reports whether entries after id were trimmed.
func (s streamInfo) evicted(id store.ID) bool {
	return id.Compare(s.newestEvicted()) < 0
}

// newestEvicted returns the ID of the newest entry trimmed, or zero.
func (s streamInfo) newestEvicted() store.ID {
	if s.length == 0 {
		if s.added > 0 {
			return s.last // everything was trimmed
		}
		return store.ID{}
	}
	return s.firstPrev
}

// info runs XINFO STREAM on the shared stream, on c.
func (l *Log) info(ctx context.Context, c goredis.Cmdable) (streamInfo, error) {
	return parseInfo(c.XInfoStream(ctx, l.stream))
}

func parseInfo(cmd *goredis.XInfoStreamCmd) (streamInfo, error) {
	xi, err := cmd.Result()
	if err != nil {
		if isNoSuchKey(err) {
			return streamInfo{}, nil
		}
		return streamInfo{}, err
	}
	s := streamInfo{length: xi.Length, added: xi.EntriesAdded}
	if s.last, err = store.ParseID(xi.LastGeneratedID); err != nil {
		return s, fmt.Errorf("XINFO STREAM last-generated-id: %w", err)
	}
	if xi.FirstEntry.ID != "" {
		if s.first, err = store.ParseID(xi.FirstEntry.ID); err != nil {
			return s, fmt.Errorf("XINFO STREAM first-entry: %w", err)
		}
		// An entry without the field (written by something else) tells
		// nothing: treat it as the first ever.
		if p, ok := xi.FirstEntry.Values[fieldPrev].(string); ok {
			if s.firstPrev, err = store.ParseID(p); err != nil {
				return s, fmt.Errorf("XINFO STREAM first-entry %s, field %s: %w", xi.FirstEntry.ID, fieldPrev, err)
			}
		}
	}
	return s, nil
}

func isNoSuchKey(err error) bool {
	return err != nil && strings.Contains(err.Error(), "no such key")
}

// idTime is the time a stream ID was generated.
func idTime(id store.ID) time.Time { return time.UnixMilli(int64(id.Major)) }

// formatRetry stores a retry hint as whole milliseconds, the SSE wire unit,
// or as a Go duration when it has a fraction of a millisecond.
func formatRetry(d time.Duration) string {
	if d%time.Millisecond == 0 {
		return strconv.FormatInt(d.Milliseconds(), 10)
	}
	return d.String()
}

func parseRetry(s string) (time.Duration, error) {
	if ms, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Duration(ms) * time.Millisecond, nil
	}
	return time.ParseDuration(s)
}

// decode turns a stream message into an entry.
func decode(m goredis.XMessage) (store.Entry, error) {
	id, err := store.ParseID(m.ID)
	if err != nil {
		return store.Entry{}, fmt.Errorf("stream entry %q: %w", m.ID, err)
	}
	str := func(k string) string { s, _ := m.Values[k].(string); return s }
	e := store.Entry{ID: id, Topic: str(fieldTopic), Time: idTime(id)}
	e.Event.Type = str(fieldType)
	e.Event.Data = str(fieldData)
	e.Event.ID = str(fieldOwnID)
	if a := str(fieldAlso); a != "" {
		e.Also = strings.Split(a, "\n")
	}
	e.Private = str(fieldPrivate) == "1"
	if r := str(fieldRetry); r != "" {
		if e.Event.Retry, err = parseRetry(r); err != nil {
			return store.Entry{}, fmt.Errorf("stream entry %s: field %s: %w", m.ID, fieldRetry, err)
		}
	}
	return e, nil
}
