// Package redis is a [store.Log] kept in one Redis Stream, so that any
// number of herald nodes share one event log: every node appends with XADD
// and tails the stream with one blocking XREAD per [Log.Follow], and each
// entry's stream ID ("ms-seq") is its event ID, so a client can resume on
// any node.
//
// History is bounded by count (XADD MAXLEN ~) and by age (XTRIM MINID ~ on
// append). Replay ([Log.After]) reads with XRANGE in chunks. Each entry
// records the ID of the entry before it (field "prev"), so the oldest entry
// kept tells which ID was trimmed last and an evicted ID is told from a kept
// one exactly; Redis's own max-deleted-entry-id counts XDEL, not trimming.
// Redis 6.2 or later is needed (XADD MINID, exclusive ranges); 7.0 or later
// to tell a stream emptied by age from one never written.
//
// When Redis cannot be reached, Append and Ping return errors wrapping
// [store.ErrUnavailable] (never a silent drop), and a running Follow yields
// such an error and reconnects with capped backoff, resuming after the last
// entry it yielded, so nothing that Redis kept is missed across a restart.
package redis
