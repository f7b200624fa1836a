package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/store"
)

// writeLoop owns every write of this node's records and its heartbeats, so
// they happen one at a time and in order. It runs until ctx ends (Close).
func (r *Registry) writeLoop(ctx context.Context) {
	defer r.wg.Done()
	beat := time.NewTicker(r.heartbeat)
	defer beat.Stop()
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false // timer runs: a flush, or a retry after a failure
	var backoff time.Duration
	write := func() error {
		err := r.write(ctx)
		switch {
		case err == nil:
			backoff = 0
			if armed { // what the timer was for is written; a later change kicks again
				timer.Stop()
				armed = false
			}
		case ctx.Err() == nil:
			backoff = min(max(2*backoff, minBackoff), r.heartbeat)
			timer.Reset(backoff)
			armed = true
		}
		return err
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
			if !armed {
				timer.Reset(r.flush)
				armed = true
			}
		case <-timer.C:
			armed = false
			write()
		case <-beat.C:
			write()
		case reply := <-r.syncs:
			reply <- write()
		}
	}
}

// write registers this node again if Redis lost it, then writes the
// pending changes and refreshes the liveness key, in one round trip when
// they fit one script. The changes stay pending when it fails.
func (r *Registry) write(ctx context.Context) error {
	r.mu.Lock()
	if r.rewrite {
		r.rewrite = false
		r.needRegister = true
	}
	r.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if r.needRegister {
			if err := r.register(ctx); err != nil {
				return r.writeState(err)
			}
		}
		batch := r.takePending()
		err := r.writeBatch(ctx, batch)
		if errors.Is(err, errLost) && attempt == 0 {
			// Expired, reaped, or Redis restarted: register again, which
			// writes every record, this batch's included.
			r.logger.Warn("presence: this node's liveness key was gone; registering again", "node", r.node)
			r.needRegister = true
			continue
		}
		if err != nil {
			r.putBack(batch)
		}
		return r.writeState(err)
	}
}

// writeState logs a change between Redis reachable and not, and returns
// err.
func (r *Registry) writeState(err error) error {
	switch {
	case err != nil && !r.down:
		r.down = true
		r.logger.Warn("presence: cannot write to Redis; retrying", "node", r.node, "err", err)
	case err == nil && r.down:
		r.down = false
		r.logger.Info("presence: writing to Redis again", "node", r.node)
	}
	return err
}

// register adds this node to the set with a fresh liveness key and an empty
// hash, then writes every record of the node, a batch at a time. When a node
// had reaped this one, it then reports every record as restored.
func (r *Registry) register(ctx context.Context) error {
	res, err := registerScript.Run(ctx, r.rdb,
		[]string{r.keys.alive(r.node), r.keys.subs(r.node), r.keys.reaper(r.node), r.keys.nodes(), r.keys.reaped(r.node), r.keys.progress(r.node)},
		r.node, r.ttl.Milliseconds(), time.Now().UTC().Format(time.RFC3339)).Int()
	switch {
	case err != nil:
		return r.fail("register", err)
	case res == -1:
		r.needRegister = true
		return fmt.Errorf("presence/redis: register: %w: %w", store.ErrUnavailable, errReaping)
	case res == 1:
		r.restore = true // sticky until reported, across failures
	}
	r.needRegister = true // until every record is written
	r.takePending()       // the records below include every change
	batch := make(map[string]*presence.Subscription, maxBatch)
	n := 0
	for s, err := range r.local.List(ctx) {
		if err != nil {
			return fmt.Errorf("presence/redis: register: %w", err)
		}
		batch[s.ID] = &s
		if len(batch) == maxBatch {
			if err := r.writeBatch(ctx, batch); err != nil {
				return err
			}
			n += len(batch)
			clear(batch)
		}
	}
	if err := r.writeBatch(ctx, batch); err != nil {
		return err
	}
	n += len(batch)
	r.needRegister = false
	if n > 0 || r.restore {
		r.logger.Info("presence: registered this node's records", "node", r.node, "records", n, "restored", r.restore)
	}
	if r.restore {
		r.restore = false
		for s, err := range r.local.List(ctx) {
			if err != nil {
				break // closed: the records are gone anyway
			}
			r.notify(presence.Change{Subscription: s, Active: true})
		}
	}
	return nil
}

// takePending returns the pending changes and leaves none.
func (r *Registry) takePending() map[string]*presence.Subscription {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.pending
	r.pending = make(map[string]*presence.Subscription) // no size hint: a burst must not pin its map
	return p
}

// putBack returns changes that failed to be written to the pending ones,
// unless a newer change to the same ID is pending.
func (r *Registry) putBack(batch map[string]*presence.Subscription) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.rewrite {
		return
	}
	for id, s := range batch {
		if _, ok := r.pending[id]; !ok {
			r.pending[id] = s
		}
	}
}

// writeBatch writes batch (nil values are leaves) with writeScript, in as
// few calls as its size allows: at most maxBatch records or maxBatchBytes
// each. An empty batch is a heartbeat. It returns errLost when the
// liveness key is gone.
func (r *Registry) writeBatch(ctx context.Context, batch map[string]*presence.Subscription) error {
	keys := []string{r.keys.alive(r.node), r.keys.subs(r.node)}
	ttl := r.ttl.Milliseconds()
	var sets, dels []any
	size := 0
	run := func() error {
		args := make([]any, 0, 2+len(sets)+len(dels))
		args = append(args, ttl, len(sets)/2)
		args = append(append(args, sets...), dels...)
		res, err := writeScript.Run(ctx, r.rdb, keys, args...).Int()
		switch {
		case err != nil:
			return r.fail("write", err)
		case res == 0:
			return errLost
		}
		sets, dels, size = sets[:0], dels[:0], 0
		return nil
	}
	for id, s := range batch {
		if s == nil {
			dels = append(dels, id)
			size += len(id)
		} else {
			v := encode(s)
			sets = append(sets, id, v)
			size += len(id) + len(v)
		}
		if len(sets)/2+len(dels) >= maxBatch || size >= maxBatchBytes {
			if err := run(); err != nil {
				return err
			}
		}
	}
	if len(sets)+len(dels) > 0 || len(batch) == 0 {
		return run()
	}
	return nil
}

// reapLoop looks for dead nodes every CheckInterval and reaps them. It runs
// until ctx ends (Close).
func (r *Registry) reapLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.check)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			r.checkNodes(ctx)
		}
	}
}

// checkNodes reads the set of nodes and their liveness keys (SMEMBERS,
// MGET: two commands whatever the number of nodes) and reaps each node
// whose key is gone. It reaps nothing for a TTL after this node could not
// reach Redis: the others' keys may have expired only because nobody could
// refresh them, and they are about to come back.
func (r *Registry) checkNodes(ctx context.Context) {
	nodes, err := r.rdb.SMembers(ctx, r.keys.nodes()).Result()
	if err != nil {
		r.fail("check nodes", err)
		return
	}
	if !slices.Contains(nodes, r.node) {
		r.lostSelf() // from the set: Redis lost it, or someone removed it
		if len(nodes) == 0 {
			return
		}
	}
	alive := make([]string, len(nodes))
	for i, n := range nodes {
		alive[i] = r.keys.alive(n)
	}
	vals, err := r.rdb.MGet(ctx, alive...).Result()
	if err != nil {
		r.fail("check nodes", err)
		return
	}
	if time.Now().UnixNano() < r.quietUntil.Load() {
		return
	}
	for i, v := range vals {
		switch {
		case v != nil:
		case nodes[i] == r.node:
			r.lostSelf()
		default:
			r.reap(ctx, nodes[i])
		}
	}
}

// lostSelf has the writer register this node again soon: a check found
// its liveness key or its place in the set gone.
func (r *Registry) lostSelf() {
	r.mu.Lock()
	if !r.closed {
		r.rewriteAll()
	}
	r.mu.Unlock()
	r.kickNow()
}

// kickNow tells the writer that there is something to write.
func (r *Registry) kickNow() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// reap takes the records of a dead node, if this node wins the claim on
// it: a page at a time, it reports each record, then asks for the next page
// with the cursor after it, which Redis keeps as the reaping's progress, so
// a reaper that dies leaves only the rest (and the page it was reporting)
// to the next; at the end it deletes the hash and removes the node.
func (r *Registry) reap(ctx context.Context, node string) {
	claim := r.ttl.Milliseconds()
	won, err := claimScript.Run(ctx, r.rdb, []string{r.keys.alive(node), r.keys.reaper(node), r.keys.reaped(node)},
		r.node, claim, TombstoneTTL.Milliseconds()).Int()
	if err != nil || won != 1 {
		return
	}
	start := time.Now()
	reaped := 0
	log := r.logger.With("node", r.node, "dead", node)
	pageKeys := []string{r.keys.reaper(node), r.keys.subs(node), r.keys.progress(node)}
	cursor := "" // resume where a reaper before stopped
	for {
		// Renewing the claim and recording what was reported must happen even
		// when Close cancelled ctx meanwhile: else the next reaper would
		// report the page again.
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.ttl)
		reply, err := reapPageScript.Run(pctx, r.rdb, pageKeys, r.node, claim, cursor, r.page).Slice()
		cancel()
		if err != nil {
			if errors.Is(err, goredis.Nil) {
				log.Warn("presence: reaping stopped: the claim was lost", "reaped", reaped)
			} else {
				log.Warn("presence: reaping stopped; the claim expires and a node reaps the rest", "reaped", reaped, "err", err)
			}
			return
		}
		if ctx.Err() != nil {
			return // closing: the claim expires and another node resumes here
		}
		next, kv, ok := parseScan(reply)
		if !ok {
			log.Error("presence: reaping stopped: HSCAN replied in an unknown shape", "reply", reply)
			return
		}
		reaped += r.reportGone(node, kv)
		if next == "0" {
			break
		}
		cursor = next
	}
	done, err := finishScript.Run(ctx, r.rdb,
		[]string{r.keys.reaper(node), r.keys.subs(node), r.keys.progress(node), r.keys.nodes(), r.keys.reaped(node)},
		r.node, node, TombstoneTTL.Milliseconds()).Int()
	if err != nil || done != 0 {
		log.Warn("presence: reaping not finished", "reaped", reaped, "err", err)
		return
	}
	log.Info("presence: reaped a dead node", "reaped", reaped, "took", time.Since(start))
}

// parseScan reads an HSCAN reply as a script returns it: the next cursor
// and field, value, ...
func parseScan(reply []any) (string, []any, bool) {
	if len(reply) != 2 {
		return "", nil, false
	}
	next, ok1 := reply[0].(string)
	kv, ok2 := reply[1].([]any)
	return next, kv, ok1 && ok2
}

// reportGone reports the records of one page (field, value, ...) of a dead
// node's hash through Watch, and returns how many it reported.
func (r *Registry) reportGone(node string, kv []any) int {
	n := 0
	seen := make(map[string]bool, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		id, _ := kv[i].(string)
		value, _ := kv[i+1].(string)
		if seen[id] {
			continue
		}
		seen[id] = true
		s, err := decode(node, id, value)
		if err != nil {
			r.logger.Warn("presence: dropping a record that does not decode", "dead", node, "err", err)
			continue
		}
		r.notify(presence.Change{Subscription: s})
		n++
	}
	return n
}
