package bolt

import (
	"fmt"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// cleanupSlack is how many entries may be committed before the cleanup is
// asked to delete those beyond MaxEntries: an eighth of MaxEntries, at
// least 64, so cleanup transactions are few but the file never holds much
// more than MaxEntries.
func (l *Log) cleanupSlack() uint64 {
	return max(l.maxEntries/8, 64)
}

// cleaner deletes evicted entries from the file, every CleanupInterval and
// whenever the batcher says entries beyond MaxEntries have piled up, until
// Close.
func (l *Log) cleaner() {
	ticker := time.NewTicker(l.cleanupInterval)
	defer ticker.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ticker.C:
		case <-l.cleanKick:
		}
		if _, err := l.cleanup(); err != nil {
			l.logger.Error("bolt: cleanup", "path", l.path, "err", err)
		}
	}
}

// cleanup deletes every entry beyond MaxEntries or MaxAge, in transactions
// of at most cleanupChunk deletions so that appends, which need bbolt's one
// writer lock, never wait long. It returns how many it deleted.
func (l *Log) cleanup() (int, error) {
	total := 0
	for {
		select {
		case <-l.stop:
			return total, nil
		default:
		}
		n, err := l.cleanupChunk()
		total += n
		if err != nil || n < cleanupChunk {
			return total, err
		}
	}
}

// cleanupChunk deletes up to cleanupChunk evicted entries from the front of
// the log in one transaction. It looks first in a read transaction, so a
// pass that finds nothing to delete costs no write.
func (l *Log) cleanupChunk() (int, error) {
	cutoff := l.cutoff()
	var upto uint64 // delete keys up to this sequence, exclusive
	err := l.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(eventsBucket)
		if b == nil {
			return fmt.Errorf("no %q bucket: %w", eventsBucket, ErrCorrupt)
		}
		k, _ := b.Cursor().First()
		if k == nil {
			return nil
		}
		first, err := keySeq(k)
		if err != nil {
			return err
		}
		oldest, err := l.oldestKept(b, first, b.Sequence(), cutoff)
		if err != nil {
			return err
		}
		if oldest > first {
			upto = min(oldest, first+cleanupChunk)
		}
		return nil
	})
	if err != nil || upto == 0 {
		return 0, closedErr(err)
	}
	n := 0
	err = l.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(eventsBucket)
		if b == nil {
			return fmt.Errorf("no %q bucket: %w", eventsBucket, ErrCorrupt)
		}
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.First() {
			seq, err := keySeq(k)
			if err != nil {
				return err
			}
			if seq >= upto {
				break
			}
			if err := c.Delete(); err != nil {
				return fmt.Errorf("delete entry %d-%d: %w", l.epoch, seq, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("delete entries before %d-%d: %w", l.epoch, upto, closedErr(err))
	}
	return n, nil
}
