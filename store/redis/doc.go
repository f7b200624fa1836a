// Package redis is a [store.Log] kept in Redis Streams, so that any number
// of herald nodes share one event log: every node appends through one Lua
// script and tails the shared stream with one blocking XREAD per
// [Log.Follow], and each entry's stream ID ("ms-seq") is its event ID, so a
// client can resume on any node.
//
// History is kept per policy of [Options.Retention], in a history stream of
// its own written by the same script, which appends concurrent Appends in
// batches (one round trip for each batch, one for a lone append), each
// bounded by count (XADD MAXLEN ~) and by age (XTRIM MINID ~ on append);
// the shared stream is bounded by [Options.StreamLen] alone. Replay
// ([Log.Read]) reads the history streams that can hold the query's topics
// with XRANGE, merged by ID. Each entry records the ID of the entry before
// it in its stream (field "prev"), so the oldest entry kept tells which ID
// was trimmed last and an evicted ID is told from a kept one exactly;
// Redis's own max-deleted-entry-id counts XDEL, not trimming. Redis 6.2 or
// later is needed (XADD MINID); 7.0 or later to tell a stream emptied by
// age from one never written. [Log.Keys] names the keys.
//
// When Redis cannot be reached, Append and Ping return errors wrapping
// [store.ErrUnavailable] (never a silent drop), and a running Follow yields
// such an error and reconnects with capped backoff, resuming after the last
// entry it yielded, so nothing that Redis kept is missed across a restart.
package redis
