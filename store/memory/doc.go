// Package memory is the embedded, default [store.Log]: a ring of events held
// in process memory, bounded by count and by age, lost when the process exits.
//
// IDs: a [Log] takes as its epoch the time [New] was called, in Unix
// milliseconds, and numbers its entries from 1. Entry n of a log created at
// 1767225600000 has the ID "1767225600000-n". An ID from an earlier run (or
// from another Log) carries another epoch, so [Log.After] reports it as
// [store.ErrUnknownID] instead of resuming from the wrong place.
//
// Retention: the ring holds at most [Options.MaxEntries] entries; appending
// to a full ring evicts the oldest. Entries older than [Options.MaxAge] are
// evicted lazily, when the log is next appended to or read; no goroutine
// runs in the background. An ID that was evicted is reported as
// [store.ErrEvicted], except the ID of the last entry evicted, after which
// nothing is missing.
//
// Concurrency: every method is safe for concurrent use. [Log.Append] holds
// the lock only to evict what has expired, copy one entry into a
// preallocated slot and wake followers with non-blocking sends, so it never
// waits for a reader.
// [Log.After] and [Log.Follow] copy entries out in chunks of at most 256
// under the lock and yield them with the lock released.
package memory
