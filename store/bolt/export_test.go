package bolt

import (
	"strconv"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// Cleanup runs one cleanup pass now, as the background cleanup does, and
// returns how many entries it deleted from the file.
func (l *Log) Cleanup() (int, error) { return l.cleanup() }

// Stored returns how many entries the file holds, evicted or not, in the
// buckets of every policy.
func (l *Log) Stored() (int, error) {
	n := 0
	err := l.db.View(func(tx *bbolt.Tx) error {
		for _, p := range l.policies {
			if b := tx.Bucket(p.name); b != nil {
				n += b.Stats().KeyN
			}
		}
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

// WriteLayout1 writes at path a file as earlier versions did: one "events"
// bucket holding entries first..head on topics[i%len(topics)], at time
// nanos, under epoch.
func WriteLayout1(path string, epoch, first, head uint64, topics []string, nanos int64) error {
	db, err := bbolt.Open(path, 0o600, nil)
	if err != nil {
		return err
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucket(metaBucket)
		if err != nil {
			return err
		}
		if err := meta.Put(versionKey, []byte{1}); err != nil {
			return err
		}
		if err := meta.Put(epochKey, appendKey(nil, epoch)); err != nil {
			return err
		}
		events, err := tx.CreateBucket(eventsBucket)
		if err != nil {
			return err
		}
		for seq := first; seq <= head; seq++ {
			v := appendValue(nil, store.Entry{Topic: topics[int(seq)%len(topics)], Event: sseEvent(seq)}, nanos)
			if err := events.Put(appendKey(nil, seq), v); err != nil {
				return err
			}
		}
		return events.SetSequence(head)
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}

func sseEvent(seq uint64) sse.Event { return sse.Event{Data: strconv.FormatUint(seq, 10)} }
