package redis

import (
	"context"
	"errors"
	"fmt"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/store"
)

const (
	// maxBatch is the most appends one script call carries; maxBatchBytes
	// the most event data, about (a batch always takes at least one). A
	// script runs alone in Redis: these bound how long one holds it.
	maxBatch      = 256
	maxBatchBytes = 1 << 20

	// batchers is how many batches may be in flight at once: while Redis
	// runs one, the next is encoded and sent.
	batchers = 2
)

// appendScript appends a batch of entries: each to the shared stream,
// which assigns its ID, and with that ID to the history stream of its
// policy, each with the ID of the entry before it in fieldPrev, each
// trimmed by count (XADD MAXLEN); the histories written to are then also
// trimmed by age (XTRIM MINID, from Redis's own clock). One round trip for
// the batch: each stream's last ID is read once, not once per entry, and
// Redis's clock once. It returns, per entry in order, its ID or an error
// reply, so that one failing entry does not fail the others.
//
//	KEYS[1]    the shared stream
//	KEYS[2:]   the history streams of the batch's policies
//	ARGV[1]    the shared stream's length, 0 for no bound
//	ARGV[2]    "~" or "="
//	ARGV[3]    k, the number of history streams; then, for each, its
//	           policy's MaxEntries (0 keeps none: the stream stays, empty,
//	           and remembers the newest ID it was given) and MaxAge in
//	           milliseconds (0 for no bound)
//	then, per entry: the index of its history stream (1 for KEYS[2]), the
//	number of fields n, and n values: field, value, ...
var appendScript = goredis.NewScript(`
local function last(key)
  local e = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if #e > 0 then return e[1][1] end
  if redis.call('EXISTS', key) == 1 then
    local info = redis.call('XINFO', 'STREAM', key)
    for i = 1, #info, 2 do
      if info[i] == 'last-generated-id' then return info[i + 1] end
    end
  end
  return '0-0'
end
local trim = ARGV[2]
local k = tonumber(ARGV[3])
local maxlen, age, prev, written = {}, {}, {}, {}
local i = 4
for j = 1, k do
  maxlen[j], age[j] = ARGV[i], ARGV[i + 1]
  i = i + 2
end
local shared = last(KEYS[1])
local ids = {}
local n = #ARGV
while i <= n do
  local j, f = tonumber(ARGV[i]), i + 2
  local to = i + 1 + tonumber(ARGV[i + 1])
  i = to + 1
  local id
  if ARGV[1] == '0' then
    id = redis.pcall('XADD', KEYS[1], '*', 'prev', shared, unpack(ARGV, f, to))
  else
    id = redis.pcall('XADD', KEYS[1], 'MAXLEN', trim, ARGV[1], '*', 'prev', shared, unpack(ARGV, f, to))
  end
  if type(id) == 'table' then
    ids[#ids + 1] = id
  else
    shared = id
    local key, r = KEYS[j + 1], nil
    if maxlen[j] == '0' then
      r = redis.pcall('XADD', key, 'MAXLEN', '=', '0', id, 'prev', '0-0', unpack(ARGV, f, to))
    else
      if prev[j] == nil then prev[j] = last(key) end
      r = redis.pcall('XADD', key, 'MAXLEN', trim, maxlen[j], id, 'prev', prev[j], unpack(ARGV, f, to))
      if type(r) ~= 'table' then
        prev[j] = id
        written[j] = true
      end
    end
    if type(r) == 'table' then ids[#ids + 1] = r else ids[#ids + 1] = id end
  end
end
local now = nil
for j = 1, k do
  if written[j] and age[j] ~= '0' then
    if now == nil then
      local t = redis.call('TIME')
      now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
    end
    redis.call('XTRIM', KEYS[j + 1], 'MINID', trim, string.format('%.0f-0', now - tonumber(age[j])))
  end
end
return ids
`)

// request is one Append waiting for its batch.
type request struct {
	in       store.Entry
	policy   int // index in Log.histories
	entry    store.Entry
	err      error
	group    int           // on the first request of an AppendBatch, how many it queued
	taken    bool          // by a batcher; guarded by Log.mu
	canceled bool          // by Append before it was taken; guarded by Log.mu
	done     chan struct{} // closed once entry and err are set
}

// Append adds e (its ID and Time ignored) to the shared stream with XADD,
// which assigns the ID, and with that ID to the history stream of the
// policy of e.Topic, trimming both; it returns the stored entry: its ID is
// the stream ID and its Time the ID's milliseconds. A policy of size zero
// keeps nothing, but its stream remembers the newest ID, so a resume
// across it is told what it lost. Append never waits for followers: the
// shared stream is trimmed to StreamLen whatever they have read.
//
// Concurrent appends share round trips: those that arrive while a batch
// is in Redis go together in the next, one script call that appends them
// in the order they arrived (up to 256 at a time), so a lone publisher
// pays one round trip and many pay a fraction of one each. Appends of one
// caller, one after the other, are stored in that order.
//
// Errors: ctx done before the entry joins a batch gives an error wrapping
// ctx.Err() and stores nothing; ctx ending while its batch is in Redis
// gives the same error, but the entry may then be stored. Redis failing
// or unreachable gives an error wrapping [store.ErrUnavailable] (the
// event may then be stored or not); after [Log.Close], an error wrapping
// [store.ErrClosed].
func (l *Log) Append(ctx context.Context, in store.Entry) (store.Entry, error) {
	op := func() string { return fmt.Sprintf("append to %q", in.Topic) }
	if err := ctx.Err(); err != nil {
		return store.Entry{}, fmt.Errorf("redis: %s: %w", op(), err)
	}
	r := &request{in: in, policy: l.retention.PolicyFor(in.Topic), done: make(chan struct{})}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return store.Entry{}, fmt.Errorf("redis: %s: %w", op(), store.ErrClosed)
	}
	l.queue = append(l.queue, r)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default: // a batcher is already due to look at the queue
	}
	select {
	case <-r.done:
	case <-ctx.Done():
		l.mu.Lock()
		if !r.taken {
			r.canceled = true
		}
		l.mu.Unlock()
		return store.Entry{}, fmt.Errorf("redis: %s: %w", op(), ctx.Err())
	}
	if r.err != nil {
		return store.Entry{}, l.fail(op(), r.err)
	}
	return r.entry, nil
}

// AppendBatch appends es in order in one script call, as Append would
// each: no other entry lands between them, and a lone caller pays one
// round trip for all of them. Errors are Append's; Redis failing may leave
// some of them stored.
func (l *Log) AppendBatch(ctx context.Context, es []store.Entry) ([]store.Entry, error) {
	if err := store.CheckBatch(es); err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	op := func() string { return fmt.Sprintf("append %d entries to %q and others", len(es), es[0].Topic) }
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("redis: %s: %w", op(), err)
	}
	rs := make([]request, len(es))
	for i := range es {
		rs[i] = request{in: es[i], policy: l.retention.PolicyFor(es[i].Topic), done: make(chan struct{})}
	}
	rs[0].group = len(rs)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("redis: %s: %w", op(), store.ErrClosed)
	}
	for i := range rs {
		l.queue = append(l.queue, &rs[i])
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	out := make([]store.Entry, len(rs))
	for i := range rs {
		r := &rs[i]
		select {
		case <-r.done:
		case <-ctx.Done():
			l.mu.Lock()
			if !rs[0].taken { // the group is taken whole or not at all
				for j := range rs {
					rs[j].canceled = true
				}
			}
			l.mu.Unlock()
			return nil, fmt.Errorf("redis: %s: %w", op(), ctx.Err())
		}
		if r.err != nil {
			return nil, l.fail(op(), r.err)
		}
		out[i] = r.entry
	}
	return out, nil
}

// A script call holds a whole AppendBatch (this fails to compile if not).
const _ = uint(maxBatch - store.MaxBatch)

// batcher sends queued appends in batches until Close.
func (l *Log) batcher() {
	var batch []*request
	for {
		select {
		case <-l.kick:
		case <-l.done:
			return
		}
		for {
			batch = l.take(batch[:0])
			if len(batch) == 0 {
				break
			}
			l.send(batch)
			clear(batch)
		}
	}
}

// take moves up to maxBatch queued requests that were not canceled into
// batch, and wakes another batcher when some are left.
func (l *Log) take(batch []*request) []*request {
	l.mu.Lock()
	defer l.mu.Unlock()
	n, size, group := 0, 0, 0 // group: members of an AppendBatch still to take with the first
	for _, r := range l.queue {
		if group == 0 && len(batch) > 0 && (len(batch)+max(r.group, 1) > maxBatch || size+len(r.in.Event.Data) > maxBatchBytes) {
			break // an AppendBatch's entries go in one script call, never split
		}
		n++
		if group > 0 {
			group--
		} else if r.group > 1 {
			group = r.group - 1
		}
		if r.canceled {
			continue
		}
		r.taken = true
		size += len(r.in.Event.Data)
		batch = append(batch, r)
	}
	rest := copy(l.queue, l.queue[n:])
	clear(l.queue[rest:])
	l.queue = l.queue[:rest]
	if rest > 0 {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
	return batch
}

// send appends batch in one script call and completes its requests.
func (l *Log) send(batch []*request) {
	trim := "~"
	if !l.approx {
		trim = "="
	}
	keys := []string{l.stream}
	slot := make(map[int]int, 2) // policy index -> index among keys[1:], from 1
	args := []any{l.streamLen, trim, 0}
	for _, r := range batch {
		if _, ok := slot[r.policy]; ok {
			continue
		}
		h := &l.histories[r.policy]
		keys = append(keys, h.key)
		slot[r.policy] = len(keys) - 1
		age := int64(0)
		if h.MaxAge > 0 {
			age = h.MaxAge.Milliseconds()
		}
		args = append(args, h.MaxEntries, age)
	}
	args[2] = len(keys) - 1
	for _, r := range batch {
		args = appendFields(args, slot[r.policy], r.in)
	}
	res, err := appendScript.Run(l.ctx, l.rdb, keys, args...).Slice()
	if err == nil && len(res) != len(batch) {
		err = fmt.Errorf("append script returned %d results for %d entries", len(res), len(batch))
	}
	for i, r := range batch {
		switch {
		case err != nil:
			r.err = err
		default:
			r.entry, r.err = entryOf(r.in, res[i])
		}
		close(r.done)
	}
}

// appendFields appends to args the index of in's history stream, the
// number of its fields, and its fields.
func appendFields(args []any, slot int, in store.Entry) []any {
	at := len(args)
	args = append(args, slot, 0, fieldTopic, in.Topic)
	ev := in.Event
	if ev.Type != "" {
		args = append(args, fieldType, ev.Type)
	}
	args = append(args, fieldData, ev.Data)
	if ev.Retry != 0 {
		args = append(args, fieldRetry, formatRetry(ev.Retry))
	}
	if ev.ID != "" {
		args = append(args, fieldOwnID, ev.ID)
	}
	if len(in.Also) > 0 {
		args = append(args, fieldAlso, strings.Join(in.Also, "\n"))
	}
	if in.Private {
		args = append(args, fieldPrivate, "1")
	}
	args[at+1] = len(args) - at - 2
	return args
}

// entryOf is the stored entry of in from its result in the script's reply:
// an ID, or the error of the XADD that failed.
func entryOf(in store.Entry, res any) (store.Entry, error) {
	switch v := res.(type) {
	case string:
		id, err := store.ParseID(v)
		if err != nil {
			return store.Entry{}, fmt.Errorf("XADD returned %q: %w", v, err)
		}
		e := in
		e.ID, e.Time = id, idTime(id)
		return e, nil
	case error:
		return store.Entry{}, v
	}
	return store.Entry{}, errors.New("append script returned no ID")
}
