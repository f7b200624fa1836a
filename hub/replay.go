package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// Replay reads history a page at a time, as the subscription's reader
// drains it, so a client that missed much costs one page of memory, not a
// copy of all it missed. docs/replay.md explains the design; in short:
//
//  1. The subscription is registered in replay mode: the follower queues
//     nothing for it, and only notes the newest ID it dispatched to it.
//  2. Pages are read after a cursor: the first by Subscribe, the next ones
//     by the hub's replay readers, one page at a time per subscription,
//     each when the reader has taken the one before.
//  3. When a page reaches the log's head and the cursor is not before the
//     newest ID the follower noted, the subscription switches to live mode
//     under its lock: live events after the cursor are queued from then
//     on, those at or before it were replayed.

const (
	// firstPage is how many entries Subscribe reads itself: enough to find
	// a log that cannot be read, or history that no longer reaches back,
	// while a reconnecting crowd holds little each.
	firstPage = 16
	// pageSize is how many entries the replay readers read at a time.
	pageSize = 64
	// replayReaders is how many goroutines of a hub read history pages.
	replayReaders = 4
)

// replayState is where a subscription's replay stands. It is guarded by
// the subscription's mutex.
type replayState struct {
	active  bool      // history is still being read: live events are not queued
	cursor  store.ID  // history was read up to here
	seen    store.ID  // the newest live event the follower dispatched to it meanwhile
	reading bool      // a page is being read, or queued to be
	count   int       // history events read so far
	pages   int       // pages read so far
	from    string    // the client's last event ID, as it sent it
	mark    bool      // a TypeReplayed event is due once caught up
	unknown bool      // from could not be resumed from: read from the start
	lost    bool      // the first page found events after from lost, or from unknown
	spare   []pending // a sent backlog array, emptied, for the next page while the replay lasts
}

// newReplay returns the state of a replay starting after from, the
// client's lastID; known says whether the history knew it.
func newReplay(lastID string, from store.ID, known, mark bool) *replayState {
	return &replayState{active: true, from: lastID, cursor: from, unknown: !known, mark: mark}
}

// replaying reports whether history is still being read for s. s.mu is
// held.
func (s *Subscription) replaying() bool { return s.replay != nil && s.replay.active }

// saw notes a live event dispatched while history is read.
func (r *replayState) saw(id store.ID) {
	if id.Compare(r.seen) > 0 {
		r.seen = id
	}
}

// pending is one thing a replaying subscription has to send: a history
// entry, or a notice of the hub's own (herald:gap, herald:replayed). The
// entry points into the page the store returned, which it keeps alive
// until sent: a backlog of pointers costs 16 bytes an entry where copies
// cost 152 (a reconnect storm holds a page or two and two backlogs per
// client).
type pending struct {
	entry  *store.Entry
	notice *sse.Event
}

// readPage reads the next page of history after the subscription's cursor,
// hands it to the reader, and switches to live mode when it has caught up.
// Entries a Filter refuses, or private ones without a Filter, are read and
// passed over.
func (s *Subscription) readPage(ctx context.Context, max int) error {
	h := s.h
	s.mu.Lock()
	after, unknown, from, pages := s.replay.cursor, s.replay.unknown, s.replay.from, s.replay.pages
	s.replay.unknown = false
	s.mu.Unlock()

	var reason string
	if unknown {
		reason = "unknown"
	}
	q := store.Query{Patterns: s.patterns, Max: max}
	page, err := h.log.Read(ctx, after, q)
	if errors.Is(err, store.ErrUnknownID) && !after.IsZero() {
		reason, after = "unknown", store.ID{}
		page, err = h.log.Read(ctx, after, q)
	}
	if err != nil {
		return err
	}
	if page.Evicted && reason == "" {
		reason = "evicted"
	}
	if pages > 0 {
		from = after.String() // lost mid-replay: after what was sent
	}

	s.mu.Lock()
	if s.backlog == nil {
		s.backlog, s.replay.spare = s.replay.spare, nil
	}
	s.backlog = slices.Grow(s.backlog, len(page.Entries)+2) // with room for a gap and the replayed notice
	if reason != "" {
		if pages == 0 {
			s.replay.lost = true
		}
		if !s.quiet {
			s.backlog = append(s.backlog, pending{notice: gapNotice(from, reason)})
		}
		h.gaps.Add(1)
	}
	var c Candidate
	for i := range page.Entries {
		c = Candidate{}
		if !s.accepts(&c, page.Entries[i]) {
			continue
		}
		s.backlog = append(s.backlog, pending{entry: &page.Entries[i]})
		s.replay.count++
	}
	s.replay.pages++
	if page.Next.Compare(s.replay.cursor) > 0 || reason == "unknown" {
		s.replay.cursor = page.Next
	}
	s.replay.reading = false
	if page.Done && s.replay.seen.Compare(s.replay.cursor) <= 0 {
		s.replay.active = false
		s.replay.spare = nil
		s.threshold = s.replay.cursor
		if s.replay.mark {
			s.replay.mark = false
			ev := sse.Event{Type: TypeReplayed, Data: `{"count":` + strconv.Itoa(s.replay.count) + `}`}
			s.backlog = append(s.backlog, pending{notice: &ev})
		}
	}
	var wake func()
	if len(s.backlog) > 0 {
		wake = s.signalLocked()
	} else if s.replay.active && s.err == nil {
		// Nothing for the reader, and not caught up: read on, since no
		// drain will ask for it.
		s.replay.reading = true
		defer h.replayer.enqueue(s)
	}
	s.mu.Unlock()
	if wake != nil {
		wake()
	}
	return nil
}

// gapNotice is the herald:gap event for a resume after lastID that lost
// events, for reason "unknown" or "evicted".
func gapNotice(lastID, reason string) *sse.Event {
	data, _ := json.Marshal(struct {
		LastEventID string `json:"lastEventId"`
		Reason      string `json:"reason"`
	}{lastID, reason})
	return &sse.Event{Type: TypeGap, Data: string(data)}
}

// takeBacklog removes what a replaying subscription has to send before its
// queue, and asks for the next page when history is still being read. It
// reports whether the queue may be drained now: not while something of
// the backlog is being sent, since live events come after it. s.mu is
// held.
func (s *Subscription) takeBacklogLocked() (backlog []pending, next bool) {
	backlog, s.backlog = s.backlog, nil
	if s.replaying() && !s.replay.reading && s.err == nil {
		s.replay.reading = true
		next = true
	}
	return backlog, next
}

// replayer is a hub's replay readers: goroutines that read the next page
// of history for subscriptions whose reader has taken the last one, so a
// slow store never blocks a connection engine's writer.
type replayer struct {
	mu    sync.Mutex
	queue []*Subscription
	wake  chan struct{}
}

func (r *replayer) run(ctx context.Context) {
	for {
		r.mu.Lock()
		var s *Subscription
		if len(r.queue) > 0 {
			s = r.queue[0]
			r.queue[0] = nil
			r.queue = r.queue[1:]
		}
		r.mu.Unlock()
		if s == nil {
			select {
			case <-r.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if s.Err() != nil {
			continue
		}
		if err := s.readPage(ctx, pageSize); err != nil && ctx.Err() == nil {
			s.End(fmt.Errorf("hub: replay: %w", logError(err)))
		}
	}
}

// enqueue asks for s's next page.
func (r *replayer) enqueue(s *Subscription) {
	r.mu.Lock()
	r.queue = append(r.queue, s)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// resolve returns where a replay after lastID starts: the position in the
// log it names, and whether it names one (known false: the replay reads
// from the start, after a gap of reason "unknown"). An empty lastID is the
// start. With ownIDs, lastID is an OwnID: GeneratedIDPrefix and a log ID,
// or a publisher's own ID, which names the earliest event bearing it that
// the history of patterns holds; finding it reads that history.
func (h *Hub) resolve(ctx context.Context, lastID string, ownIDs bool, patterns []string) (store.ID, bool, error) {
	if lastID == "" {
		return store.ID{}, true, nil
	}
	if ownIDs {
		rest, generated := strings.CutPrefix(lastID, GeneratedIDPrefix)
		if !generated {
			return h.findOwn(ctx, lastID, patterns)
		}
		lastID = rest
	}
	id, err := store.ParseID(lastID)
	if err != nil {
		return store.ID{}, false, nil
	}
	return id, true, nil
}

// findOwn finds the earliest event of the history of patterns whose
// publisher gave it the ID own.
func (h *Hub) findOwn(ctx context.Context, own string, patterns []string) (store.ID, bool, error) {
	var after store.ID
	for {
		page, err := h.log.Read(ctx, after, store.Query{Patterns: patterns, Max: 256})
		if err != nil {
			return store.ID{}, false, err
		}
		for _, e := range page.Entries {
			if e.Event.ID == own {
				return e.ID, true, nil
			}
		}
		if page.Done || page.Next == after {
			return store.ID{}, false, nil
		}
		after = page.Next
	}
}
