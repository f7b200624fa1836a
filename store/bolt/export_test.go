package bolt

import (
	"time"

	bbolt "go.etcd.io/bbolt"
)

// Cleanup runs one cleanup pass now, as the background cleanup does, and
// returns how many entries it deleted from the file.
func (l *Log) Cleanup() (int, error) { return l.cleanup() }

// Stored returns how many entries the file holds, evicted or not.
func (l *Log) Stored() (int, error) {
	n := 0
	err := l.db.View(func(tx *bbolt.Tx) error {
		n = tx.Bucket(eventsBucket).Stats().KeyN
		return nil
	})
	return n, err
}

// Queued returns how many Appends wait for the batcher.
func (l *Log) Queued() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.queue)
}

// WithClock returns opts with the clock now, which sets the epoch of a new
// file, each entry's Time and the age of entries.
func WithClock(opts Options, now func() time.Time) Options {
	opts.now = now
	return opts
}
