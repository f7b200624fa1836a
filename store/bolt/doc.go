// Package bolt is a durable [store.Log] for one node: events are kept in one
// bbolt file (go.etcd.io/bbolt), so history and IDs survive a restart.
//
// IDs: a new file takes as its epoch the time it was created, in Unix
// milliseconds, and keeps it for good; entries are numbered from 1, and the
// numbering never goes back. Entry n of a file created at 1767225600000 has
// the ID "1767225600000-n" in every run, so a client that reconnects after
// a restart with the last ID it saw resumes right after it, and new IDs
// come after every ID handed out before.
//
// Durability: [Log.Append] returns once the transaction holding the entry is
// committed and synced, so an acknowledged entry survives a crash of the
// process or of the machine. Appends are committed in groups: one goroutine
// owned by the Log commits everything that arrived while the previous
// transaction was syncing in one transaction, so concurrent publishers share
// a disk sync instead of waiting for one each (see [Options.MaxBatch] and
// [Options.BatchDelay]).
//
// Retention: each policy of [Options.Retention] keeps its events in a
// bucket of its own. The commit that appends an entry deletes its policy's
// oldest beyond MaxEntries; reads treat entries older than the policy's
// MaxAge as evicted at once, and a background goroutine deletes them from
// the file in small transactions every [Options.CleanupInterval]. bbolt
// reuses the freed pages, so under a steady load the file stops growing.
// A file written with other policies, or by earlier versions with one
// history, is filed again under the new policies by [Open].
//
// Followers never read the file: committed entries reach them through a
// ring in memory of [Options.MaxLag] entries, and an Append waits rather
// than lap a running follower ([store.ErrBusy] when its context ends
// first).
//
// Concurrency: every method is safe for concurrent use. [Log.Read] reads
// one page in one short read transaction and holds none between pages, so
// a slow reader never stalls appends or keeps bbolt from reusing pages.
// Only one process may open a file at once.
package bolt
