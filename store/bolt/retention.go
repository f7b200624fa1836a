package bolt

import (
	"fmt"
	"math"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// cleaner deletes the entries of every policy that are older than its
// MaxAge from the file, every CleanupInterval, until Close. (Entries beyond
// a policy's MaxEntries are deleted by the commit that appends their
// successors.)
func (l *Log) cleaner() {
	ticker := time.NewTicker(l.cleanupInterval)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ticker.C:
		}
		if _, err := l.cleanup(); err != nil {
			l.logger.Error("bolt: cleanup", "path", l.path, "err", err)
		}
	}
}

// cleanup deletes every entry beyond its policy's MaxAge, in transactions
// of at most cleanupChunk deletions so that appends, which need bbolt's one
// writer lock, never wait long. It returns how many it deleted.
func (l *Log) cleanup() (int, error) {
	total := 0
	for i := range l.policies {
		p := &l.policies[i]
		if p.MaxEntries == 0 || p.MaxAge < 0 {
			continue
		}
		for {
			select {
			case <-l.stop:
				return total, nil
			default:
			}
			n, err := l.cleanupChunk(i)
			total += n
			if err != nil {
				return total, err
			}
			if n < cleanupChunk {
				break
			}
		}
	}
	return total, nil
}

// cleanupChunk deletes up to cleanupChunk expired entries from the front of
// the bucket of policy i in one transaction, and records the newest it deleted. It
// looks first in a read transaction, so a pass that finds nothing to
// delete costs no write.
func (l *Log) cleanupChunk(i int) (int, error) {
	p := &l.policies[i]
	cutoff := l.cutoff(p.Policy)
	var upto uint64 // delete keys up to this sequence, inclusive
	err := l.db.View(func(tx *bbolt.Tx) error {
		b, err := p.bucket(tx)
		if err != nil {
			return err
		}
		_, upto, err = oldestKept(b, math.MaxUint64-1, cutoff)
		return err
	})
	if err != nil || upto == 0 {
		return 0, closedErr(err)
	}
	n := 0
	l.countMu.Lock()
	defer l.countMu.Unlock()
	err = l.db.Update(func(tx *bbolt.Tx) error {
		b, err := p.bucket(tx)
		if err != nil {
			return err
		}
		var newest uint64
		c := b.Cursor()
		for k, _ := c.First(); k != nil && n < cleanupChunk; k, _ = c.First() {
			seq, err := keySeq(k)
			if err != nil {
				return err
			}
			if seq > upto {
				break
			}
			if err := c.Delete(); err != nil {
				return fmt.Errorf("delete entry %d-%d of %s: %w", l.epoch, seq, p.name, err)
			}
			newest = seq
			n++
		}
		return evict(b, newest)
	})
	if err == nil {
		l.counts[i] -= uint64(n)
	}
	if err != nil {
		return 0, fmt.Errorf("delete expired entries of %s: %w", p.name, closedErr(err))
	}
	return n, nil
}
