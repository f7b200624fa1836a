// Package bolt is a durable [store.Log] for one node: events are kept in one
// bbolt file (go.etcd.io/bbolt), so history and IDs survive a restart.
//
// IDs: a new file takes as its epoch the time it was created, in Unix
// milliseconds, and keeps it for good; entries are numbered from 1 by the
// events bucket's sequence, which never goes back. Entry n of a file created
// at 1767225600000 has the ID "1767225600000-n" in every run, so a client
// that reconnects after a restart with the last ID it saw resumes right
// after it, and new IDs come after every ID handed out before.
//
// Durability: [Log.Append] returns once the transaction holding the entry is
// committed and synced, so an acknowledged entry survives a crash of the
// process or of the machine. Appends are committed in groups: one goroutine
// owned by the Log commits everything that arrived while the previous
// transaction was syncing in one transaction, so concurrent publishers share
// a disk sync instead of waiting for one each (see [Options.MaxBatch] and
// [Options.BatchDelay]).
//
// Retention: the log keeps at most [Options.MaxEntries] entries, none older
// than [Options.MaxAge]. Reads treat entries beyond those bounds as evicted
// at once ([store.ErrEvicted], except the ID of the newest evicted entry,
// after which nothing is missing). A background goroutine deletes them from
// the file in small transactions, as they pile up and every
// [Options.CleanupInterval], so it never holds the write path for long;
// bbolt reuses the freed pages, so under a steady load the file stops
// growing.
//
// Concurrency: every method is safe for concurrent use. [Log.After] and
// [Log.Follow] read in chunks of at most 256 entries, each in its own short
// read transaction, and yield with none open, so a slow reader never stalls
// appends or keeps bbolt from reusing pages. Followers are woken after each
// commit with non-blocking sends. Only one process may open a file at once.
package bolt
