// Package memory is the embedded, default [store.Log]: events held in
// process memory, lost when the process exits.
//
// IDs: a [Log] takes as its epoch the time [New] was called, in Unix
// milliseconds, and numbers its entries from 1. Entry n of a log created at
// 1767225600000 has the ID "1767225600000-n". An ID from an earlier run (or
// from another Log) carries another epoch, so [Log.Read] reports it as
// [store.ErrUnknownID] instead of resuming from the wrong place.
//
// Two kinds of ring hold entries. One per history policy
// ([Options.Retention]) keeps that policy's newest events for replay:
// appending to a full one evicts its oldest, and entries older than the
// policy's MaxAge are evicted lazily, when the log is next appended to or
// read (no goroutine runs in the background). A policy of size zero has
// none. The other ring, of [Options.MaxLag] entries, carries every entry to
// the followers; rings share the entries' strings, not copies of the data.
//
// No lapping: a running [Log.Follow] iteration is never overtaken. When the
// slowest one has MaxLag entries unread, [Log.Append] waits for it, and
// returns an error wrapping [store.ErrBusy] if its context ends first.
//
// Concurrency: every method is safe for concurrent use. Append holds the
// lock only to evict what has expired, copy one entry into two
// preallocated slots and wake followers with non-blocking sends. [Log.Read]
// copies at most one page out under the lock; Follow copies entries out in
// chunks of at most 256 and yields them with the lock released.
package memory
