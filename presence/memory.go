package presence

import (
	"context"
	"fmt"
	"iter"
	"sort"
	"sync"
	"time"
)

// memoryPage is how many records List copies under the lock at a time.
const memoryPage = 256

// MemoryOptions configures a [Memory] registry. The zero value is ready to
// use.
type MemoryOptions struct {
	// Node is this node's ID (see [CheckNode]). Empty means [NewNodeID].
	Node string
}

// Memory is the [Registry] of one node, kept in the process: for a hub on the
// memory or bolt store, and as the local part of a shared registry. It never
// reports a [Change]: a node alone has no other node to outlive. Create it
// with [NewMemory].
type Memory struct {
	node string

	mu     sync.Mutex
	closed bool
	byID   map[string]*entry
	// order holds the entries by seq, ascending; removed ones stay, marked,
	// until they are more than half, so a listing resumes after the last
	// seq it saw with a binary search.
	order   []*entry
	removed int
	seq     uint64
}

type entry struct {
	seq     uint64
	sub     Subscription
	removed bool
}

var _ Registry = (*Memory)(nil)

// NewMemory returns an empty registry for the node opts.Node. It fails only
// for an invalid node ID, with an error wrapping [ErrInvalid].
func NewMemory(opts MemoryOptions) (*Memory, error) {
	node := opts.Node
	if node == "" {
		node = NewNodeID()
	}
	if err := CheckNode(node); err != nil {
		return nil, fmt.Errorf("presence: new memory registry: %w", err)
	}
	return &Memory{node: node, byID: make(map[string]*entry)}, nil
}

// Node returns this node's ID.
func (m *Memory) Node() string { return m.node }

// Join registers sub; see [Registry.Join]. The registry keeps a copy of it.
func (m *Memory) Join(sub Subscription) (Subscription, error) {
	if err := sub.Validate(); err != nil {
		return Subscription{}, fmt.Errorf("presence: join: %w", err)
	}
	if sub.Node != "" && sub.Node != m.node {
		return Subscription{}, fmt.Errorf("presence: join %q: %w: node %q is not this node, %q", sub.ID, ErrInvalid, sub.Node, m.node)
	}
	sub = sub.Clone()
	sub.Node = m.node
	if sub.Start.IsZero() {
		sub.Start = time.Now()
	}
	sub.Start = sub.Start.Round(0) // no monotonic reading: records compare by Equal across nodes
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Subscription{}, fmt.Errorf("presence: join %q: %w", sub.ID, ErrClosed)
	}
	if _, ok := m.byID[sub.ID]; ok {
		return Subscription{}, fmt.Errorf("presence: join %q: %w", sub.ID, ErrDuplicate)
	}
	m.seq++
	e := &entry{seq: m.seq, sub: sub}
	m.byID[sub.ID] = e
	m.order = append(m.order, e)
	return sub, nil
}

// Leave removes the subscription id; see [Registry.Leave].
func (m *Memory) Leave(id string) error {
	_, err := m.leave(id)
	return err
}

// leave removes id and reports whether this node held it.
func (m *Memory) leave(id string) (bool, error) {
	if id == "" {
		return false, fmt.Errorf("presence: leave: %w: empty subscriber id", ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return false, fmt.Errorf("presence: leave %q: %w", id, ErrClosed)
	}
	e, ok := m.byID[id]
	if !ok {
		return false, nil
	}
	delete(m.byID, id)
	e.removed = true
	e.sub = Subscription{} // let the record go now, not at compaction
	if m.removed++; m.removed > 64 && m.removed > len(m.order)/2 {
		m.order = compact(m.order)
		m.removed = 0
	}
	return true, nil
}

// compact drops removed entries from order, keeping the order, and gives
// back the array when it shrank to a quarter.
func compact(order []*entry) []*entry {
	kept := order[:0]
	for _, e := range order {
		if !e.removed {
			kept = append(kept, e)
		}
	}
	clear(order[len(kept):])
	if cap(kept) > 4*len(kept)+64 {
		kept = append([]*entry(nil), kept...)
	}
	return kept
}

// Get returns the subscription id of this node, or an error wrapping
// [ErrNotFound].
func (m *Memory) Get(ctx context.Context, id string) (Subscription, error) {
	if id == "" {
		return Subscription{}, fmt.Errorf("presence: get: %w: empty subscriber id", ErrInvalid)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Subscription{}, fmt.Errorf("presence: get %q: %w", id, ErrClosed)
	}
	e, ok := m.byID[id]
	if !ok {
		return Subscription{}, fmt.Errorf("presence: get %q: %w", id, ErrNotFound)
	}
	return e.sub, nil
}

// List yields this node's subscriptions in the order they joined, copying
// 256 at a time under the lock; see [Registry.List].
func (m *Memory) List(ctx context.Context) iter.Seq2[Subscription, error] {
	return func(yield func(Subscription, error) bool) {
		var after uint64
		page := make([]Subscription, 0, memoryPage)
		for {
			if err := ctx.Err(); err != nil {
				yield(Subscription{}, fmt.Errorf("presence: list: %w", err))
				return
			}
			var err error
			page, after, err = m.page(page[:0], after)
			if err != nil {
				yield(Subscription{}, err)
				return
			}
			for i, s := range page {
				page[i] = Subscription{}
				if !yield(s, nil) {
					return
				}
			}
			if len(page) < memoryPage {
				return
			}
		}
	}
}

// page appends to dst up to a page of records that joined after seq
// after, and returns the seq of the last one.
func (m *Memory) page(dst []Subscription, after uint64) ([]Subscription, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return dst, after, fmt.Errorf("presence: list: %w", ErrClosed)
	}
	i := sort.Search(len(m.order), func(i int) bool { return m.order[i].seq > after })
	for ; i < len(m.order) && len(dst) < memoryPage; i++ {
		if e := m.order[i]; !e.removed {
			dst = append(dst, e.sub)
			after = e.seq
		}
	}
	return dst, after, nil
}

// Count returns this node's count as both counts.
func (m *Memory) Count(ctx context.Context) (Counts, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return Counts{}, fmt.Errorf("presence: count: %w", ErrClosed)
	}
	return Counts{Node: len(m.byID), Cluster: len(m.byID)}, nil
}

// Len returns how many subscriptions this node holds; 0 after Close.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.byID)
}

// Watch returns at once: a registry of one node finds no changes.
func (m *Memory) Watch(fn func(Change)) (stop func()) { return func() {} }

// Close drops every record. It owns no goroutine and never fails.
func (m *Memory) Close(ctx context.Context) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	m.byID, m.order, m.removed = nil, nil, 0
	return nil
}
