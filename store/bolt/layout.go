package bolt

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/store"
)

// The file's layout (layoutVersion 2):
//
//	meta                   bucket
//	  version              1 byte, layoutVersion
//	  epoch                8 bytes, the Major of every ID
//	  head                 8 bytes, the sequence of the newest entry
//	  policies             the bucket names of the policies, in order, joined by "\n"
//	  evicted:<name>       8 bytes, the sequence of the newest entry that policy evicted
//	default                bucket of the default policy, unless it keeps no history
//	policy:<pattern>       bucket of each other policy that keeps history
//
// A policy's bucket holds its kept entries under their sequence (8 bytes,
// big-endian, so keys sort in log order), in the value layout of codec.go.
// Its own sequence (bbolt's Bucket.Sequence) is how many entries it holds,
// so the commit that appends one can delete the oldest beyond MaxEntries
// without counting.
//
// Layout 1, of earlier versions, kept every entry in one "events" bucket,
// whose sequence was the head; the meta version was 1. Open files such a
// log's entries under the policies it is given.
var (
	metaBucket   = []byte("meta")
	eventsBucket = []byte("events") // layout 1
	epochKey     = []byte("epoch")
	versionKey   = []byte("version")
	headKey      = []byte("head")
	policiesKey  = []byte("policies")
)

const (
	layoutVersion = 2
	defaultName   = "default"
	policyPrefix  = "policy:"
	evictedPrefix = "evicted:"
)

// policy is one history policy and where the file keeps it.
type policy struct {
	store.Policy
	name       []byte // its bucket (none is made for a policy of size zero)
	evictedKey []byte // the meta key of the newest entry it evicted
}

func newPolicies(r store.Retention) []policy {
	resolved := r.Resolved()
	out := make([]policy, len(resolved))
	for i, p := range resolved {
		name := policyPrefix + p.Pattern
		if i == len(resolved)-1 {
			name = defaultName
		}
		out[i] = policy{Policy: p, name: []byte(name), evictedKey: []byte(evictedPrefix + name)}
	}
	return out
}

// patternOf returns the pattern of the policy whose bucket is called name.
func patternOf(name string) string {
	if p, ok := strings.CutPrefix(name, policyPrefix); ok {
		return p
	}
	return "**" // the default, or layout 1's one history
}

// bucket returns p's bucket in tx.
func (p *policy) bucket(tx *bbolt.Tx) (*bbolt.Bucket, error) {
	b := tx.Bucket(p.name)
	if b == nil {
		return nil, fmt.Errorf("no %q bucket: %w", p.name, ErrCorrupt)
	}
	return b, nil
}

// trim records that b, p's bucket, holds n entries and deletes its oldest
// beyond p's MaxEntries. It returns the newest sequence deleted, 0 for
// none.
func (p *policy) trim(b *bbolt.Bucket, n uint64) (uint64, error) {
	var newest uint64
	if n > uint64(p.MaxEntries) {
		c := b.Cursor()
		for k, _ := c.First(); k != nil && n > uint64(p.MaxEntries); k, _ = c.First() {
			seq, err := keySeq(k)
			if err != nil {
				return 0, err
			}
			if err := c.Delete(); err != nil {
				return 0, fmt.Errorf("delete entry %d of %s: %w", seq, p.name, err)
			}
			newest, n = seq, n-1
		}
	}
	if err := b.SetSequence(n); err != nil {
		return 0, fmt.Errorf("count the entries of %s: %w", p.name, err)
	}
	return newest, nil
}

// names returns the bucket names of the policies, in order, as stored
// under policiesKey.
func names(policies []policy) []byte {
	var b []byte
	for i, p := range policies {
		if i > 0 {
			b = append(b, '\n')
		}
		b = append(b, p.name...)
	}
	return b
}

// init creates the buckets of a new file, or checks those of an existing
// one and files its entries again if its policies changed, and loads the
// epoch, the head and the newest entry's time.
func (l *Log) init(tx *bbolt.Tx) error {
	meta := tx.Bucket(metaBucket)
	if meta == nil {
		// A new file, or one that holds something else.
		if name, _ := tx.Cursor().First(); name != nil {
			return fmt.Errorf("bucket %q without a %q bucket: %w", name, metaBucket, ErrCorrupt)
		}
		var err error
		if meta, err = tx.CreateBucket(metaBucket); err != nil {
			return fmt.Errorf("create bucket %q: %w", metaBucket, err)
		}
		// Major 0 is kept for the zero ID, which means "from the start".
		epoch := uint64(max(l.now().UnixMilli(), 1))
		for _, kv := range [][2][]byte{
			{versionKey, {layoutVersion}},
			{epochKey, appendKey(nil, epoch)},
			{headKey, appendKey(nil, 0)},
		} {
			if err := meta.Put(kv[0], kv[1]); err != nil {
				return fmt.Errorf("store %s: %w", kv[0], err)
			}
		}
	}
	epoch, err := keySeq(meta.Get(epochKey))
	if err != nil || epoch == 0 {
		return fmt.Errorf("epoch: %w", ErrCorrupt)
	}
	l.epoch = epoch

	var old []oldPolicy // the policies the file was written with
	switch v := meta.Get(versionKey); {
	case bytes.Equal(v, []byte{1}):
		events := tx.Bucket(eventsBucket)
		if events == nil {
			return fmt.Errorf("layout 1 without a %q bucket: %w", eventsBucket, ErrCorrupt)
		}
		l.head = events.Sequence()
		// What layout 1 evicted is gone from the file: everything before
		// its oldest entry.
		gone := l.head
		if k, _ := events.Cursor().First(); k != nil {
			first, err := keySeq(k)
			if err != nil {
				return err
			}
			gone = first - 1
		}
		old = []oldPolicy{{name: string(eventsBucket), evicted: gone}}
		if err := meta.Put(versionKey, []byte{layoutVersion}); err != nil {
			return fmt.Errorf("store the layout version: %w", err)
		}
	case bytes.Equal(v, []byte{layoutVersion}):
		if l.head, err = keySeq(meta.Get(headKey)); err != nil {
			return fmt.Errorf("head: %w", err)
		}
		if stored := meta.Get(policiesKey); stored != nil && !bytes.Equal(stored, names(l.policies)) {
			for name := range strings.SplitSeq(string(stored), "\n") {
				o := oldPolicy{name: name}
				if k := meta.Get([]byte(evictedPrefix + name)); k != nil {
					if o.evicted, err = keySeq(k); err != nil {
						return fmt.Errorf("%s%s: %w", evictedPrefix, name, err)
					}
				}
				old = append(old, o)
			}
		}
	default:
		return fmt.Errorf("layout version %x, want %d: %w", v, layoutVersion, ErrCorrupt)
	}
	if err := meta.Put(headKey, appendKey(nil, l.head)); err != nil {
		return fmt.Errorf("store the head: %w", err)
	}
	if old != nil {
		if err := l.refile(tx, meta, old); err != nil {
			return err
		}
	}
	if err := meta.Put(policiesKey, names(l.policies)); err != nil {
		return fmt.Errorf("store the policies: %w", err)
	}
	return l.settle(tx, meta)
}

// oldPolicy is a policy the file was written with.
type oldPolicy struct {
	name    string // its bucket, which may not exist
	evicted uint64 // the newest entry it evicted
}

// refile files every entry kept in the buckets of old under the policy l
// gives its topic, and deletes the buckets and marks of old policies that
// l does not have. Each of l's policies reports as evicted the newest
// entry evicted by any old policy whose pattern overlaps its own, since
// those entries might have been its.
func (l *Log) refile(tx *bbolt.Tx, meta *bbolt.Bucket, old []oldPolicy) error {
	evicted := make([]uint64, len(l.policies))
	for i, p := range l.policies {
		for _, o := range old {
			if topic.Overlaps(patternOf(o.name), p.Pattern) {
				evicted[i] = max(evicted[i], o.evicted)
			}
		}
		if p.MaxEntries > 0 {
			if _, err := tx.CreateBucketIfNotExists(p.name); err != nil {
				return fmt.Errorf("create bucket %q: %w", p.name, err)
			}
		}
	}
	for _, o := range old {
		from := tx.Bucket([]byte(o.name))
		if from == nil {
			continue
		}
		var moved [][]byte
		err := from.ForEach(func(k, v []byte) error {
			seq, err := keySeq(k)
			if err != nil {
				return err
			}
			t, err := valueTopic(v)
			if err != nil {
				return fmt.Errorf("entry %d-%d: %w", l.epoch, seq, err)
			}
			j := l.retention.PolicyFor(t)
			p := &l.policies[j]
			switch {
			case bytes.Equal(p.name, []byte(o.name)):
				return nil // stays
			case p.MaxEntries == 0:
				evicted[j] = max(evicted[j], seq)
			default:
				if err := tx.Bucket(p.name).Put(bytes.Clone(k), bytes.Clone(v)); err != nil {
					return fmt.Errorf("file entry %d-%d under %s: %w", l.epoch, seq, p.name, err)
				}
			}
			moved = append(moved, bytes.Clone(k))
			return nil
		})
		if err != nil {
			return fmt.Errorf("file the entries of %s again: %w", o.name, err)
		}
		if !slices.ContainsFunc(l.policies, func(p policy) bool { return p.MaxEntries > 0 && string(p.name) == o.name }) {
			if err := tx.DeleteBucket([]byte(o.name)); err != nil {
				return fmt.Errorf("delete bucket %q: %w", o.name, err)
			}
		} else {
			for _, k := range moved {
				if err := from.Delete(k); err != nil {
					return fmt.Errorf("delete a moved entry of %s: %w", o.name, err)
				}
			}
		}
		if err := meta.Delete([]byte(evictedPrefix + o.name)); err != nil {
			return fmt.Errorf("delete the mark of %s: %w", o.name, err)
		}
	}
	for i, p := range l.policies {
		if evicted[i] > 0 {
			if err := meta.Put(p.evictedKey, appendKey(nil, evicted[i])); err != nil {
				return fmt.Errorf("store the newest entry %s evicted: %w", p.name, err)
			}
		}
	}
	return nil
}

// settle checks that every policy that keeps history has its bucket,
// trims each to its MaxEntries (which may have shrunk since the file was
// written), counts what each holds, and finds the newest entry's time.
func (l *Log) settle(tx *bbolt.Tx, meta *bbolt.Bucket) error {
	for i := range l.policies {
		p := &l.policies[i]
		if p.MaxEntries == 0 {
			continue
		}
		b, err := tx.CreateBucketIfNotExists(p.name)
		if err != nil {
			return fmt.Errorf("create bucket %q: %w", p.name, err)
		}
		// Counted with a cursor: Stats does not see this transaction's
		// writes, which filing entries again may have made.
		var n uint64
		c := b.Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			n++
		}
		if k, v := b.Cursor().Last(); k != nil {
			seq, err := keySeq(k)
			if err != nil {
				return err
			}
			if seq > l.head {
				return fmt.Errorf("entry %d of %s after the head %d: %w", seq, p.name, l.head, ErrCorrupt)
			}
			nanos, err := valueNanos(v)
			if err != nil {
				return err
			}
			l.lastNanos = max(l.lastNanos, nanos)
		}
		newest, err := p.trim(b, n)
		if err != nil {
			return err
		}
		if newest > 0 {
			prev, _ := keySeq(meta.Get(p.evictedKey))
			if err := meta.Put(p.evictedKey, appendKey(nil, max(prev, newest))); err != nil {
				return fmt.Errorf("store the newest entry %s evicted: %w", p.name, err)
			}
		}
	}
	return nil
}
