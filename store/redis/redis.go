package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

const (
	// DefaultAddr is the Redis server a Log connects to when Options names
	// none.
	DefaultAddr = "localhost:6379"

	// DefaultStream is the stream key a Log uses when Options.Stream is
	// empty.
	DefaultStream = "herald:events"

	// DefaultMaxLen is how many entries a Log keeps, approximately, when
	// Options.MaxLen is zero.
	DefaultMaxLen = 10_000

	// DefaultMaxAge is how long a Log keeps an entry when Options.MaxAge is
	// zero.
	DefaultMaxAge = time.Hour

	// DefaultBackoff is the longest a Follow waits between attempts to
	// reach Redis when Options.Backoff is zero.
	DefaultBackoff = 2 * time.Second

	// DefaultBlock is how long one XREAD of a Follow blocks when
	// Options.Block is zero.
	DefaultBlock = 5 * time.Second

	// afterChunk and followChunk are how many entries one XRANGE reads.
	afterChunk  = 256
	followChunk = 512

	// minBackoff is the first wait of a Follow after a failure.
	minBackoff = 50 * time.Millisecond
)

// Stream entry fields.
const (
	fieldTopic = "topic"
	fieldType  = "type"
	fieldData  = "data"
	fieldRetry = "retry"
	// fieldPrev holds the ID of the entry before this one ("0-0" for the
	// first), so that the oldest entry kept tells which ID was trimmed
	// last: Redis's max-deleted-entry-id counts XDEL only, not trimming.
	fieldPrev = "prev"
)

// appendScript appends one entry: it reads the stream's last ID, adds the
// entry with that ID in fieldPrev and trims by count (XADD MAXLEN) and by
// age (XTRIM MINID, from Redis's own clock), all atomically.
//
//	KEYS[1]  stream
//	ARGV[1]  MaxLen, 0 for no bound
//	ARGV[2]  "~" or "="
//	ARGV[3]  MaxAge in milliseconds, 0 for no bound
//	ARGV[4:] field, value, ...
var appendScript = goredis.NewScript(`
local key = KEYS[1]
local prev = '0-0'
local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
if #last > 0 then
  prev = last[1][1]
elseif redis.call('EXISTS', key) == 1 then
  local info = redis.call('XINFO', 'STREAM', key)
  for i = 1, #info, 2 do
    if info[i] == 'last-generated-id' then prev = info[i + 1] end
  end
end
local args = {'XADD', key}
if ARGV[1] ~= '0' then
  args[#args + 1] = 'MAXLEN'
  args[#args + 1] = ARGV[2]
  args[#args + 1] = ARGV[1]
end
args[#args + 1] = '*'
args[#args + 1] = 'prev'
args[#args + 1] = prev
for i = 4, #ARGV do args[#args + 1] = ARGV[i] end
local id = redis.call(unpack(args))
if ARGV[3] ~= '0' then
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call('XTRIM', key, 'MINID', ARGV[2], string.format('%.0f-0', now - tonumber(ARGV[3])))
end
return id
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

	// Stream is the key of the Redis Stream. Every node serving one log
	// uses the same key. Empty means DefaultStream.
	Stream string

	// MaxLen is how many entries the stream keeps: each append trims it to
	// about MaxLen (XADD MAXLEN ~). Zero means DefaultMaxLen; negative
	// means no bound by count.
	MaxLen int64

	// MaxAge is how long an entry is kept: each append trims entries older
	// than MaxAge by Redis's clock (XTRIM MINID ~, in the same script as the
	// XADD). Zero means DefaultMaxAge; negative means no bound by age.
	// Entries expire only when someone appends.
	MaxAge time.Duration

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

	// exactTrim trims to exactly MaxLen and MaxAge ("=" instead of "~"),
	// which costs Redis more work per append. Only tests set it
	// (export_test.go), to check retention bounds exactly.
	exactTrim bool
}

// Log is a [store.Log] in a Redis Stream. It also implements [io.Closer]
// and [store.Pinger]. Create it with [New]; it is safe for concurrent use
// by any number of goroutines.
type Log struct {
	rdb     goredis.UniversalClient
	owned   bool // rdb was created by New and is closed by Close
	stream  string
	maxLen  int64         // 0: no bound
	maxAge  time.Duration // <= 0: no bound
	approx  bool
	backoff time.Duration
	block   time.Duration
	logger  *slog.Logger

	done chan struct{} // closed by Close

	mu      sync.Mutex
	closed  bool
	readers map[*reader]struct{} // running Follow iterations
}

var (
	_ store.Log    = (*Log)(nil)
	_ io.Closer    = (*Log)(nil)
	_ store.Pinger = (*Log)(nil)
)

// New returns a Log on the stream opts.Stream and checks that Redis
// answers PING within ctx. It returns an error wrapping
// [store.ErrUnavailable] when Redis does not answer, and an error for an
// invalid opts.URL; in both cases it closes the client it created.
func New(ctx context.Context, opts Options) (*Log, error) {
	l := &Log{
		rdb:     opts.Client,
		stream:  opts.Stream,
		maxLen:  opts.MaxLen,
		maxAge:  opts.MaxAge,
		approx:  !opts.exactTrim,
		backoff: opts.Backoff,
		block:   opts.Block,
		logger:  opts.Logger,
		done:    make(chan struct{}),
		readers: make(map[*reader]struct{}),
	}
	if l.stream == "" {
		l.stream = DefaultStream
	}
	switch {
	case l.maxLen == 0:
		l.maxLen = DefaultMaxLen
	case l.maxLen < 0:
		l.maxLen = 0
	}
	switch {
	case l.maxAge == 0:
		l.maxAge = DefaultMaxAge
	case l.maxAge < 0:
		l.maxAge = 0
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
	if err := l.rdb.Ping(ctx).Err(); err != nil {
		if l.owned {
			l.rdb.Close()
		}
		return nil, fmt.Errorf("redis: new, stream %q: %w: %w", l.stream, store.ErrUnavailable, err)
	}
	return l, nil
}

// Append adds ev (its ID ignored) on topic to the stream with XADD, which
// assigns the ID, and trims the stream by count and age, in one Lua script
// (one round trip), and returns the stored entry: its ID is the stream ID
// and its Time the ID's milliseconds.
//
// Errors: ctx already done gives an error wrapping ctx.Err() and stores
// nothing; Redis failing or unreachable gives an error wrapping
// [store.ErrUnavailable] (the event may then be stored or not); after
// [Log.Close], an error wrapping [store.ErrClosed].
func (l *Log) Append(ctx context.Context, topic string, ev sse.Event) (store.Entry, error) {
	op := func() string { return fmt.Sprintf("append to %q", topic) }
	if err := ctx.Err(); err != nil {
		return store.Entry{}, fmt.Errorf("redis: %s: %w", op(), err)
	}
	if l.isClosed() {
		return store.Entry{}, fmt.Errorf("redis: %s: %w", op(), store.ErrClosed)
	}
	ev.ID = ""
	values := make([]any, 0, 8)
	values = append(values, fieldTopic, topic)
	if ev.Type != "" {
		values = append(values, fieldType, ev.Type)
	}
	values = append(values, fieldData, ev.Data)
	if ev.Retry != 0 {
		values = append(values, fieldRetry, formatRetry(ev.Retry))
	}
	trim := "~"
	if !l.approx {
		trim = "="
	}
	args := make([]any, 0, 3+len(values))
	args = append(args, l.maxLen, trim, l.maxAge.Milliseconds())
	args = append(args, values...)
	add := appendScript.Run(ctx, l.rdb, []string{l.stream}, args...)
	raw, err := add.Text()
	if err != nil {
		return store.Entry{}, l.fail(op(), err)
	}
	id, err := store.ParseID(raw)
	if err != nil {
		return store.Entry{}, fmt.Errorf("redis: %s: XADD returned %q: %w", op(), raw, err)
	}
	return store.Entry{ID: id, Topic: topic, Event: ev, Time: idTime(id)}, nil
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

// Close stops the Log: afterwards Append, After, Follow and Ping fail with
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
	l.mu.Unlock()
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

// info runs XINFO STREAM on c.
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
	if r := str(fieldRetry); r != "" {
		if e.Event.Retry, err = parseRetry(r); err != nil {
			return store.Entry{}, fmt.Errorf("stream entry %s: field %s: %w", m.ID, fieldRetry, err)
		}
	}
	return e, nil
}
