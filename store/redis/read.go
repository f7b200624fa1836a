package redis

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/store"
)

// Read returns a page of history after after: see [store.Log.Read]. It
// reads, with XRANGE, the history streams of the policies that can keep
// q's topics, merged by ID, up to the shared stream's last ID when Read is
// called. Each round trip is one MULTI of XINFO STREAM and XRANGE per
// stream still to read, so what is read and what was trimmed are seen at
// once; a Read takes at most four, and a page that stops there is not
// Done. Each history entry names the one before it in its stream (field
// "prev"), so the oldest entry kept tells exactly which was trimmed last.
//
// A resume from before the policies were last changed (or from before
// the first start of a version with history per policy) reports the
// events before then as evicted: they are not in the history streams.
//
// Errors: after beyond the shared stream's last ID gives an error wrapping
// [store.ErrUnknownID]; an invalid q, one wrapping
// [store.ErrInvalidQuery]; Redis failing, one wrapping
// [store.ErrUnavailable]; ctx ending, one wrapping ctx.Err(); after
// [Log.Close], one wrapping [store.ErrClosed].
func (l *Log) Read(ctx context.Context, after store.ID, q store.Query) (store.Page, error) {
	op := "read after " + after.String()
	if err := q.Check(); err != nil {
		return store.Page{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	if err := ctx.Err(); err != nil {
		return store.Page{}, fmt.Errorf("redis: %s: %w", op, err)
	}
	if l.isClosed() {
		return store.Page{}, fmt.Errorf("redis: %s: %w", op, store.ErrClosed)
	}
	r := pageReader{l: l, after: after, q: q, limit: q.Limit(), page: store.Page{Next: after}}
	for _, i := range l.retention.Holding(q.Patterns) {
		r.sources = append(r.sources, &source{h: &l.histories[i], cursor: after})
	}
	if !after.IsZero() && l.since.Compare(after) > 0 {
		r.lost = l.since
	}
	if err := r.read(ctx); err != nil {
		if errors.Is(err, store.ErrUnknownID) {
			return store.Page{}, fmt.Errorf("redis: %s: %w", op, err)
		}
		return store.Page{}, l.fail(op, err)
	}
	r.page.Evicted = !r.lost.IsZero() && r.lost.Compare(r.page.Next) <= 0
	return r.page, nil
}

// pageReader is one Read under way.
type pageReader struct {
	l       *Log
	after   store.ID
	q       store.Query
	limit   int
	head    store.ID // the shared stream's last ID
	sources []*source
	page    store.Page
	lost    store.ID // the oldest newest-evicted entry after after, of any source
}

// source is where a Read stands in one history stream.
type source struct {
	h         *history
	cursor    store.ID      // entries up to it were fetched
	buf       []store.Entry // fetched, not yet considered
	exhausted bool          // nothing more up to the head
	fetch     int64         // how many to ask for next
	info      *goredis.XInfoStreamCmd
	xrange    *goredis.XMessageSliceCmd
}

// read fills r.page, fetching from the sources as the merge needs.
func (r *pageReader) read(ctx context.Context) error {
	for round := 0; ; round++ {
		var due []*source
		for _, s := range r.sources {
			if len(s.buf) == 0 && !s.exhausted {
				due = append(due, s)
			}
		}
		if len(due) > 0 {
			if round == maxRounds {
				return nil
			}
			if err := r.fetch(ctx, round, due); err != nil {
				return err
			}
		}
		if r.merge() {
			return nil
		}
	}
}

// fetch reads the next entries of each source of due, and what each
// stream has trimmed, in one MULTI; the first round also reads the head.
func (r *pageReader) fetch(ctx context.Context, round int, due []*source) error {
	var headCmd *goredis.XInfoStreamCmd
	_, err := r.l.rdb.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		if round == 0 {
			headCmd = p.XInfoStream(ctx, r.l.stream)
		}
		for _, s := range due {
			s.info = p.XInfoStream(ctx, s.h.key)
			s.xrange = nil
			if s.h.MaxEntries == 0 {
				continue
			}
			switch {
			case s.fetch == 0:
				s.fetch = int64(r.limit) + 1
			default:
				s.fetch = min(4*s.fetch, maxFetch)
			}
			start, end := "-", "+"
			if !s.cursor.IsZero() {
				next, ok := successor(s.cursor)
				if !ok {
					continue // no ID comes after it
				}
				start = next.String()
			}
			if round > 0 {
				end = r.head.String()
			}
			s.xrange = p.XRangeN(ctx, s.h.key, start, end, s.fetch)
		}
		return nil
	})
	// XINFO STREAM of a stream that does not exist fails alone: it has
	// nothing, and has trimmed nothing. Any other failure is in the
	// command it failed, checked below.
	if err != nil && !isNoSuchKey(err) {
		return err
	}
	if headCmd != nil {
		info, err := parseInfo(headCmd)
		if err != nil {
			return err
		}
		r.head = info.last
		if !r.after.IsZero() && r.after.Compare(r.head) > 0 {
			return fmt.Errorf("newest in stream %q is %v: %w", r.l.stream, r.head, store.ErrUnknownID)
		}
	}
	for _, s := range due {
		info, err := parseInfo(s.info)
		if err != nil {
			return fmt.Errorf("stream %q: %w", s.h.key, err)
		}
		if evicted := info.newestEvicted(); !r.after.IsZero() && evicted.Compare(r.after) > 0 && (r.lost.IsZero() || evicted.Compare(r.lost) < 0) {
			r.lost = evicted
		}
		if s.xrange == nil {
			s.exhausted = true
			continue
		}
		msgs, err := s.xrange.Result()
		if err != nil {
			return fmt.Errorf("stream %q: %w", s.h.key, err)
		}
		if s.buf, err = decodeAll(msgs); err != nil {
			return fmt.Errorf("stream %q: %w", s.h.key, err)
		}
		// The first round reads to "+" in the same MULTI as the head, so
		// nothing it reads is past the head; later rounds stop at it.
		s.exhausted = int64(len(msgs)) < s.fetch
		if len(s.buf) > 0 {
			s.cursor = s.buf[len(s.buf)-1].ID
		}
	}
	return nil
}

// successor returns the ID right after id, and false when there is none.
func successor(id store.ID) (store.ID, bool) {
	switch {
	case id.Minor < math.MaxUint64:
		return store.ID{Major: id.Major, Minor: id.Minor + 1}, true
	case id.Major < math.MaxUint64:
		return store.ID{Major: id.Major + 1}, true
	}
	return id, false
}

// merge considers, in ID order, the fetched entries up to where every
// source is known, and reports whether the page is complete.
func (r *pageReader) merge() bool {
	for {
		var best *source
		for _, s := range r.sources {
			switch {
			case len(s.buf) > 0:
				if best == nil || s.buf[0].ID.Compare(best.buf[0].ID) < 0 {
					best = s
				}
			case !s.exhausted:
				return false // its next entry is unknown: fetch it
			}
		}
		if best == nil {
			r.page.Done = true
			if !r.head.IsZero() {
				r.page.Next = r.head
			}
			return true
		}
		if len(r.page.Entries) == r.limit {
			return true
		}
		e := best.buf[0]
		best.buf = best.buf[1:]
		r.page.Next = e.ID
		if r.q.MatchesAny(e.Topic, e.Also) {
			r.page.Entries = append(r.page.Entries, e)
		}
	}
}

// chunk reads up to n entries after cursor and up to end (a stream ID, or
// "+") from c. A nonzero missed reports that entries right after cursor,
// up to missed (the newest trimmed), were trimmed; the entries returned
// then start at the oldest kept. A zero cursor reads from the start: it
// misses what the first entry kept names as its predecessor, if anything.
//
// The common case takes one XRANGE from cursor inclusive: when cursor's own
// entry is still there, nothing after it was trimmed. Otherwise XINFO STREAM
// and XRANGE run in one MULTI, and the oldest entry's fieldPrev decides.
func (l *Log) chunk(ctx context.Context, c goredis.Cmdable, cursor store.ID, end string, n int64) (entries []store.Entry, missed store.ID, err error) {
	if cursor.IsZero() {
		msgs, err := c.XRangeN(ctx, l.stream, "-", end, n).Result()
		if err != nil {
			return nil, store.ID{}, err
		}
		if entries, err = decodeAll(msgs); err != nil || len(msgs) == 0 {
			return entries, store.ID{}, err
		}
		// A zero cursor follows a stream that did not exist when Follow
		// started: every entry in it came after. A first entry that names
		// a predecessor means that one, and any before it, were trimmed
		// unread.
		if p, ok := msgs[0].Values[fieldPrev].(string); ok && p != "0-0" {
			if missed, err = store.ParseID(p); err != nil {
				return nil, store.ID{}, fmt.Errorf("stream entry %s, field %s: %w", msgs[0].ID, fieldPrev, err)
			}
		}
		return entries, missed, nil
	}
	start := cursor.String()
	msgs, err := c.XRangeN(ctx, l.stream, start, end, n+1).Result()
	if err != nil {
		return nil, store.ID{}, err
	}
	if len(msgs) > 0 && msgs[0].ID == start {
		entries, err = decodeAll(msgs[1:])
		return entries, store.ID{}, err
	}
	var infoCmd *goredis.XInfoStreamCmd
	var rangeCmd *goredis.XMessageSliceCmd
	_, err = c.TxPipelined(ctx, func(p goredis.Pipeliner) error {
		infoCmd = p.XInfoStream(ctx, l.stream)
		rangeCmd = p.XRangeN(ctx, l.stream, "("+start, end, n)
		return nil
	})
	if err != nil && (infoCmd == nil || !isNoSuchKey(infoCmd.Err()) || rangeCmd.Err() != nil) {
		return nil, store.ID{}, err
	}
	info, err := parseInfo(infoCmd)
	if err != nil {
		return nil, store.ID{}, err
	}
	msgs, err = rangeCmd.Result()
	if err != nil {
		return nil, store.ID{}, err
	}
	if entries, err = decodeAll(msgs); err != nil || !info.evicted(cursor) {
		return entries, store.ID{}, err
	}
	return entries, info.newestEvicted(), nil
}

func decodeAll(msgs []goredis.XMessage) ([]store.Entry, error) {
	entries := make([]store.Entry, 0, len(msgs))
	for _, m := range msgs {
		e, err := decode(m)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
	}
	return entries, nil
}

// Follow yields, in log order and exactly once each, every entry appended
// to the stream (by any node) after Follow was called, until ctx ends; then
// the iteration ends without an error. The call resolves the starting point
// to the stream's last generated ID; each range over the returned sequence
// starts from there. See [store.Log] for the contract.
//
// Each iteration reads with XRANGE and, when it has caught up, waits with
// XREAD BLOCK on a connection of its own, which ctx ending or [Log.Close]
// interrupts. When Redis fails, it yields an error wrapping
// [store.ErrUnavailable], waits (50ms doubling up to Options.Backoff) and
// tries again from the last entry it yielded, for as long as ctx lasts. If
// Redis cannot be reached when Follow is called, the iteration yields that
// error first and starts from the last ID once Redis answers. A follower so
// slow that entries it has not read were trimmed gets an error wrapping
// [store.ErrEvicted] and goes on with the oldest entry kept. After
// [Log.Close], the iteration yields an error wrapping [store.ErrClosed] and
// ends.
func (l *Log) Follow(ctx context.Context) iter.Seq2[store.Entry, error] {
	if l.isClosed() {
		return fail(fmt.Errorf("redis: follow: %w", store.ErrClosed))
	}
	if ctx.Err() != nil {
		return func(func(store.Entry, error) bool) {}
	}
	info, startErr := l.info(ctx, l.rdb)
	return func(yield func(store.Entry, error) bool) {
		if ctx.Err() != nil {
			return
		}
		r := &reader{l: l}
		if !l.addReader(r) {
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return
		}
		defer l.removeReader(r)
		stop := context.AfterFunc(ctx, r.kick)
		defer stop()
		l.follow(ctx, r, yield, info.last, startErr)
	}
}

// follow is the loop of one Follow iteration. startErr is the error that
// kept Follow from resolving the starting point, if one did.
func (l *Log) follow(ctx context.Context, r *reader, yield func(store.Entry, error) bool, cursor store.ID, startErr error) {
	resolved := startErr == nil
	var delay time.Duration
	failed := false
	// retry yields err, then waits before the next attempt; it reports
	// whether to go on.
	retry := func(err error) bool {
		if ctx.Err() != nil {
			return false
		}
		if l.isClosed() {
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return false
		}
		r.reset()
		delay = min(max(2*delay, minBackoff), l.backoff)
		if !failed {
			l.logger.LogAttrs(ctx, slog.LevelWarn, "redis store: follow lost Redis; retrying",
				slog.String("stream", l.stream), slog.String("after", cursor.String()), slog.Any("error", err))
		}
		failed = true
		if !yield(store.Entry{}, l.fail("follow after "+cursor.String(), err)) {
			return false
		}
		wait := delay/2 + rand.N(delay/2+1)
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-ctx.Done():
			return false
		case <-l.done:
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return false
		}
	}
	if !resolved && !retry(startErr) {
		return
	}
	var woke []store.Entry // read by the last wait, not yielded yet
	for {
		if ctx.Err() != nil {
			return
		}
		if l.isClosed() {
			yield(store.Entry{}, fmt.Errorf("redis: follow: %w", store.ErrClosed))
			return
		}
		c, err := r.conn(ctx)
		if err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		if !resolved {
			info, err := l.info(ctx, c)
			if err != nil {
				if !retry(err) {
					return
				}
				continue
			}
			cursor, resolved = info.last, true
		}
		var entries []store.Entry
		var missed store.ID
		if woke != nil {
			// The XREAD that woke the wait returned entries right after the
			// cursor: no XRANGE needed.
			entries, woke = woke, nil
		} else if entries, missed, err = l.chunk(ctx, c, cursor, "+", followChunk); err != nil {
			if !retry(err) {
				return
			}
			continue
		}
		if failed {
			failed, delay = false, 0
			l.logger.LogAttrs(ctx, slog.LevelInfo, "redis store: follow reached Redis again",
				slog.String("stream", l.stream), slog.String("after", cursor.String()))
		}
		if !missed.IsZero() {
			err := fmt.Errorf("redis: follow: entries after %v up to %v in stream %q were trimmed before they were read: %w", cursor, missed, l.stream, store.ErrEvicted)
			if missed.Compare(cursor) > 0 {
				cursor = missed
			}
			if !yield(store.Entry{}, err) {
				return
			}
		}
		for _, e := range entries {
			if !yield(e, nil) {
				return
			}
			cursor = e.ID
		}
		if len(entries) == followChunk || !missed.IsZero() {
			continue // there may be more right away
		}
		for woke == nil && ctx.Err() == nil && !l.isClosed() {
			got, intact, err := r.wait(ctx, c, cursor)
			if err != nil {
				if !retry(err) {
					return
				}
				break
			}
			if len(got) > 0 && !intact {
				break // XRANGE from the cursor tells what was trimmed
			}
			woke = got // nil when Block passed, or kick: wait again
		}
	}
}

// reader is the state of one running Follow iteration: its dedicated
// connection, and what interrupts the XREAD BLOCK it may be waiting in.
type reader struct {
	l        *Log
	blocking atomic.Bool // in wait, between its last check and XREAD's return

	mu      sync.Mutex
	c       *goredis.Conn // dedicated connection; nil until first used, or after a failure
	id      int64         // CLIENT ID of c
	exiting bool          // removeReader was called: kick starts nothing
	wg      sync.WaitGroup
}

// conn returns what the iteration sends its commands to: its dedicated
// connection when the client gives one, else the shared client.
func (r *reader) conn(ctx context.Context) (goredis.Cmdable, error) {
	client, ok := r.l.rdb.(*goredis.Client)
	if !ok {
		return r.l.rdb, nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		return r.c, nil
	}
	c := client.Conn()
	id, err := c.ClientID(ctx).Result()
	if err != nil {
		c.Close()
		return nil, err
	}
	r.c, r.id = c, id
	return c, nil
}

// reset drops the dedicated connection after a failure, so the next
// attempt gets a fresh one.
func (r *reader) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.c != nil {
		r.c.Close()
		r.c, r.id = nil, 0
	}
}

// wait blocks until the stream has entries after cursor, Block passes, or
// kick interrupts it. It returns the entries XREAD read (up to a chunk),
// and whether they follow cursor with nothing trimmed between: the first
// names cursor as the entry before it (field prev).
func (r *reader) wait(ctx context.Context, c goredis.Cmdable, cursor store.ID) ([]store.Entry, bool, error) {
	block := r.l.block
	if _, ok := c.(*goredis.Conn); !ok {
		block = min(block, time.Second) // nothing can interrupt it
	}
	r.blocking.Store(true)
	defer r.blocking.Store(false)
	if ctx.Err() != nil || r.l.isClosed() {
		return nil, false, nil
	}
	streams, err := c.XRead(ctx, &goredis.XReadArgs{
		Streams: []string{r.l.stream, cursor.String()},
		Count:   followChunk,
		Block:   block,
	}).Result()
	if err != nil {
		if errors.Is(err, goredis.Nil) {
			err = nil // Block passed, or kick
		}
		return nil, false, err
	}
	if len(streams) == 0 || len(streams[0].Messages) == 0 {
		return nil, false, nil
	}
	msgs := streams[0].Messages
	prev, _ := msgs[0].Values[fieldPrev].(string)
	entries, err := decodeAll(msgs)
	if err != nil {
		return nil, false, err
	}
	return entries, prev == cursor.String(), nil
}

// kick interrupts the XREAD BLOCK the iteration is in or about to send, with
// CLIENT UNBLOCK from the shared client, retried until Redis reports the
// connection unblocked or the iteration leaves wait. It returns at once; the
// work runs in a goroutine that removeReader waits for.
func (r *reader) kick() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.exiting || r.c == nil {
		return
	}
	r.wg.Go(func() {
		for r.blocking.Load() {
			r.mu.Lock()
			id := r.id
			r.mu.Unlock()
			if id == 0 {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			n, err := r.l.rdb.ClientUnblock(ctx, id).Result()
			cancel()
			if err != nil || n == 1 {
				return
			}
			time.Sleep(5 * time.Millisecond) // XREAD not arrived yet
		}
	})
}

func (l *Log) addReader(r *reader) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return false
	}
	l.readers[r] = struct{}{}
	return true
}

// removeReader ends r: it waits for a kick in progress and closes r's
// connection.
func (l *Log) removeReader(r *reader) {
	l.mu.Lock()
	delete(l.readers, r)
	l.mu.Unlock()
	r.mu.Lock()
	r.exiting = true
	r.mu.Unlock()
	r.wg.Wait()
	r.reset()
}

// fail returns a sequence that yields err alone.
func fail(err error) iter.Seq2[store.Entry, error] {
	return func(yield func(store.Entry, error) bool) {
		yield(store.Entry{}, err)
	}
}
