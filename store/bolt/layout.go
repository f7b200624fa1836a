package bolt

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldsse/herald/store"
)

// The file's layout (layoutVersion 2):
//
//	meta                   bucket
//	  version              1 byte, layoutVersion
//	  epoch                8 bytes, the Major of every ID
//	  head                 8 bytes, the newest sequence when the file was last opened
//	  policies             the bucket names of the policies, in order, joined by "\n"
//	default                bucket of the default policy
//	policy:<pattern>       bucket of each other policy
//
// A policy's bucket holds its kept entries under their sequence (8 bytes,
// big-endian, so keys sort in log order), in the value layout of codec.go;
// a policy of size zero has an empty one. The bucket's own sequence
// (bbolt's Bucket.Sequence) is the sequence of the newest entry the policy
// evicted (for size zero, the newest it was given): it is kept in the
// bucket's header, which a commit to the bucket rewrites anyway, so
// recording evictions costs no page of its own. The head of the log is the
// newest of the recorded head, every bucket's last key and every bucket's
// sequence: a commit writes nothing else but its entries.
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
)

// policy is one history policy and where the file keeps it.
type policy struct {
	store.Policy
	name []byte // its bucket
}

func newPolicies(r store.Retention) []policy {
	resolved := r.Resolved()
	out := make([]policy, len(resolved))
	for i, p := range resolved {
		name := policyPrefix + p.Pattern
		if i == len(resolved)-1 {
			name = defaultName
		}
		out[i] = policy{Policy: p, name: []byte(name)}
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

// trim deletes the oldest entries of b, p's bucket, which holds n, beyond
// p's MaxEntries, records the newest it deleted as evicted, and returns how
// many b holds then.
func (p *policy) trim(b *bbolt.Bucket, n uint64) (uint64, error) {
	var newest uint64
	c := b.Cursor()
	for k, _ := c.First(); k != nil && n > uint64(p.MaxEntries); k, _ = c.First() {
		seq, err := keySeq(k)
		if err != nil {
			return n, err
		}
		if err := c.Delete(); err != nil {
			return n, fmt.Errorf("delete entry %d of %s: %w", seq, p.name, err)
		}
		newest, n = seq, n-1
	}
	return n, evict(b, newest)
}

// evict records that the newest entry b's policy evicted is seq, unless it
// recorded a newer one.
func evict(b *bbolt.Bucket, seq uint64) error {
	if seq <= b.Sequence() {
		return nil
	}
	if err := b.SetSequence(seq); err != nil {
		return fmt.Errorf("record entry %d as evicted: %w", seq, err)
	}
	return nil
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
				if b := tx.Bucket([]byte(name)); b != nil {
					o.evicted = b.Sequence()
				}
				old = append(old, o)
			}
		}
	default:
		return fmt.Errorf("layout version %x, want %d: %w", v, layoutVersion, ErrCorrupt)
	}
	if old != nil {
		if err := l.refile(tx, old); err != nil {
			return err
		}
	}
	if err := meta.Put(policiesKey, names(l.policies)); err != nil {
		return fmt.Errorf("store the policies: %w", err)
	}
	if err := l.settle(tx); err != nil {
		return err
	}
	if err := meta.Put(headKey, appendKey(nil, l.head)); err != nil {
		return fmt.Errorf("store the head: %w", err)
	}
	return nil
}

// oldPolicy is a policy the file was written with.
type oldPolicy struct {
	name    string // its bucket, which may not exist
	evicted uint64 // the newest entry it evicted
}

// refile files every entry kept in the buckets of old under the policy l
// gives its topic, and deletes the buckets and marks of old policies that
// l does not have. Each of l's policies reports as evicted the newest
// entry evicted by any old policy some of whose topics it now keeps, since
// those entries might have been its.
func (l *Log) refile(tx *bbolt.Tx, old []oldPolicy) error {
	evicted := make([]uint64, len(l.policies))
	for _, o := range old {
		for _, i := range l.retention.Holding([]string{patternOf(o.name)}) {
			evicted[i] = max(evicted[i], o.evicted)
		}
	}
	for _, p := range l.policies {
		if _, err := tx.CreateBucketIfNotExists(p.name); err != nil {
			return fmt.Errorf("create bucket %q: %w", p.name, err)
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
			t, _, err := valueTopics(v)
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
		if !slices.ContainsFunc(l.policies, func(p policy) bool { return string(p.name) == o.name }) {
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
	}
	for i, p := range l.policies {
		if err := evict(tx.Bucket(p.name), evicted[i]); err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
	}
	return nil
}

// settle makes sure every policy has its bucket, trims each to its
// MaxEntries (which may have shrunk since the file was written), counts
// what each holds, and finds the head and the newest entry's time.
func (l *Log) settle(tx *bbolt.Tx) error {
	l.counts = make([]uint64, len(l.policies))
	for i := range l.policies {
		p := &l.policies[i]
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
		if k, v := c.Last(); k != nil {
			nanos, err := valueNanos(v)
			if err != nil {
				return err
			}
			l.lastNanos = max(l.lastNanos, nanos)
		}
		if l.counts[i], err = p.trim(b, n); err != nil {
			return err
		}
		if l.head, err = headOf(b, l.head); err != nil {
			return err
		}
	}
	return nil
}

// headOf returns the newer of head and the newest entry b's policy holds
// or evicted.
func headOf(b *bbolt.Bucket, head uint64) (uint64, error) {
	head = max(head, b.Sequence())
	if k, _ := b.Cursor().Last(); k != nil {
		seq, err := keySeq(k)
		if err != nil {
			return head, err
		}
		head = max(head, seq)
	}
	return head, nil
}
