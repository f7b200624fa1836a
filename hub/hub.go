package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// TypeGap is the type of the event a subscriber receives first when the
// hub cannot replay from its last event ID. Its data is JSON:
// {"lastEventId": "...", "reason": "unknown"|"evicted"}. Types starting
// with "herald:" are reserved for the hub.
const TypeGap = "herald:gap"

// TypeReplayed is the type of the event that follows the replayed history
// of a subscription that asked for it ([SubscribeRequest.MarkReplayed]).
// Its data is JSON: {"count": N}, the number of events replayed. It
// carries no ID, so a client's last event ID stays that of the last event
// it received.
const TypeReplayed = "herald:replayed"

// ReservedTypePrefix starts every event type the hub reserves for itself.
const ReservedTypePrefix = "herald:"

// Options configures a [Hub]. Log is required; the zero value of every
// other field means its default.
type Options struct {
	// Log stores events for replay and carries them to subscribers:
	// store/memory for one process, store/bolt for history that survives
	// a restart, store/redis for several nodes. It is required. The hub
	// never closes it: whoever opened it closes it, after [Hub.Close]
	// has returned.
	Log store.Log
	// QueueSize is how many events a subscriber may have pending before it
	// is disconnected as too slow. Zero means 1,000.
	QueueSize int
	// MaxTopics is how many patterns one subscription may name. Zero means 32.
	MaxTopics int
	// MaxDataSize is the largest event data Publish accepts, in bytes.
	// Zero means 256 KiB.
	MaxDataSize int
	// Retry is the reconnection time a subscription's stream starts with
	// (see [Subscription.AppendPending]). When the hub closes, each stream
	// is told to reconnect after Retry plus a random jitter of up to Retry,
	// so clients do not return all at once. Zero means 3 s.
	Retry time.Duration
	// Presence, when set, keeps the record of every subscription made with
	// a SubscribeRequest.Presence (who is subscribed, on every node sharing
	// the registry: docs/presence.md), and PresenceEvents says what the hub
	// publishes when one joins or leaves, or is found gone with its node.
	// The caller opens the registry and closes it after [Hub.Close]. Nil
	// means no presence.
	Presence presence.Registry
	// PresenceEvents returns the events announcing that the subscription s
	// joined (active) or left; the hub publishes them in that order, after
	// the fact, from a goroutine of its own, and may publish types the hub
	// reserves ("herald:..."). Nil publishes nothing.
	PresenceEvents func(s presence.Subscription, active bool) []Message
	// Logger receives operational messages. Nil discards them.
	Logger *slog.Logger
}

func (o *Options) setDefaults() {
	if o.QueueSize <= 0 {
		o.QueueSize = 1000
	}
	if o.MaxTopics <= 0 {
		o.MaxTopics = 32
	}
	if o.MaxDataSize <= 0 {
		o.MaxDataSize = 256 << 10
	}
	if o.Retry <= 0 {
		o.Retry = 3 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Message is what a publisher sends.
type Message struct {
	// Topic is where the event goes: '/'-separated segments, no wildcards.
	Topic string
	// Type is the event type; empty means "message". It must not contain CR
	// or LF, nor start with "herald:".
	Type string
	// Data is the event's data, sent as is.
	Data string
	// Retry, when positive, asks clients to wait this long before
	// reconnecting.
	Retry time.Duration
	// Also are more topics the event is published on (Mercure's alternate
	// topics): a subscription that matches Topic or any of them receives
	// it, once. Each is validated like Topic.
	Also []string
	// ID is the publisher's own ID for the event (Mercure's id), kept with
	// it; subscriptions made with OwnIDs see it instead of the log's ID.
	// It must not contain CR, LF or NUL. Empty means none.
	ID string
	// Private marks an event only subscriptions whose Filter accepts it
	// receive: a subscription without a Filter never does.
	Private bool
}

// GeneratedIDPrefix starts the ID a subscription made with OwnIDs sees for
// an event that has no ID of its publisher's: the prefix, then the log's
// ID. It is a valid IRI (a URN), as Mercure asks of hub-generated IDs, and
// resumes like the log's ID.
const GeneratedIDPrefix = "urn:herald:"

// OwnID returns the ID a subscription made with OwnIDs sees for an event:
// its publisher's own ID, or GeneratedIDPrefix and the log's ID.
func OwnID(e store.Entry) string {
	if e.Event.ID != "" {
		return e.Event.ID
	}
	return GeneratedIDPrefix + e.ID.String()
}

// Stats counts what a hub has done since it was created.
type Stats struct {
	Subscribers     int    // subscriptions open now
	Published       uint64 // events accepted by Publish on this node
	Dispatched      uint64 // events received from the log and matched against subscribers
	Delivered       uint64 // events handed to subscribers' writers (live and replayed)
	SlowDisconnects uint64 // subscriptions ended by a full queue
	Replays         uint64 // subscriptions that replayed history
	Gaps            uint64 // subscriptions that got a herald:gap event
}

// Hub routes published events to subscribers. Create one with [New] and
// release it with [Hub.Close]. A Hub is safe for concurrent use.
type Hub struct {
	opts Options
	log  store.Log

	mu     sync.RWMutex
	index  topic.Index[*Subscription]
	subs   map[*Subscription]struct{}
	closed bool
	seq    uint64 // dispatch counter; only the follower uses it

	overflowed []*Subscription // the follower's scratch list of slow subscribers

	publishing sync.WaitGroup // Publish calls in flight

	dispatchMu   sync.Mutex
	appendedTo   store.ID      // the last ID this node appended
	dispatchedTo store.ID      // the last ID the follower dispatched
	drained      chan struct{} // closed when dispatchedTo reaches appendedTo

	replayer  replayer  // reads history pages for replaying subscriptions
	announcer announcer // publishes presence events

	stop      context.CancelFunc
	stopWatch func() // stops the presence registry's reports
	wg        sync.WaitGroup

	published, dispatched, delivered, slow, replays, gaps atomic.Uint64
}

// New creates a hub on opts.Log and starts the goroutine it owns, which
// follows the log and dispatches its events. It returns an error when
// opts.Log is nil.
func New(opts Options) (*Hub, error) {
	if opts.Log == nil {
		return nil, errors.New("hub: new: Options.Log is nil; open a store.Log (store/memory for one process) and pass it")
	}
	opts.setDefaults()
	h := &Hub{
		opts: opts,
		log:  opts.Log,
		subs: make(map[*Subscription]struct{}),
	}
	ctx, cancel := context.WithCancel(context.Background())
	h.stop = cancel
	follow := h.log.Follow(ctx) // fixes the starting point now, before any Publish
	h.wg.Go(func() { h.follow(follow) })
	h.replayer.wake = make(chan struct{}, 1)
	for range replayReaders {
		h.wg.Go(func() { h.replayer.run(ctx) })
	}
	if opts.Presence != nil {
		h.announcer.start(h)
		h.stopWatch = opts.Presence.Watch(func(c presence.Change) { h.announcer.announce(c.Subscription, c.Active) })
	}
	return h, nil
}

// Publish validates m, appends it to the log, and returns the ID the log
// assigned. It returns once the event is stored; delivery to subscribers
// happens without the publisher waiting for any of them.
//
// Errors wrap [ErrInvalidTopic], [ErrInvalidMessage], [ErrTooLarge],
// [ErrClosed], or the log's error, marked [ErrUnavailable] when the log
// could not be reached or was closed, and [ErrBusy] when the log had no
// room before ctx ended (publishers outrun dispatch; docs/replay.md).
func (h *Hub) Publish(ctx context.Context, m Message) (string, error) {
	if err := h.check(m, false); err != nil {
		return "", err
	}
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return "", ErrClosed
	}
	h.publishing.Add(1)
	h.mu.RUnlock()
	defer h.publishing.Done()
	return h.append(ctx, m)
}

// MaxBatch is the most messages one [Hub.PublishBatch] takes.
const MaxBatch = store.MaxBatch

// PublishBatch publishes msgs in order, as Publish would each, and returns
// their IDs in the same order: their IDs increase in that order, and no
// other publisher's event lands between them, so every subscriber receives
// them in that order, together. Every message is checked before any is
// stored: an invalid one fails the call, with an error that names its
// index ("event 3: …"), and nothing is stored. A log that implements
// [store.BatchAppender] stores them in one round trip or commit; another
// gets them one by one (then another publisher's event may land between).
//
// Errors are Publish's, plus [ErrInvalidMessage] for no messages or more
// than MaxBatch. When the log fails while storing them, some may have been
// stored, as one Publish's event may.
func (h *Hub) PublishBatch(ctx context.Context, msgs []Message) ([]string, error) {
	if len(msgs) == 0 || len(msgs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d events in a batch, want 1 to %d", ErrInvalidMessage, len(msgs), MaxBatch)
	}
	for i, m := range msgs {
		if err := h.check(m, false); err != nil {
			return nil, fmt.Errorf("event %d: %w", i, err)
		}
	}
	h.mu.RLock()
	if h.closed {
		h.mu.RUnlock()
		return nil, ErrClosed
	}
	h.publishing.Add(1)
	h.mu.RUnlock()
	defer h.publishing.Done()

	ids := make([]string, len(msgs))
	b, ok := h.log.(store.BatchAppender)
	if !ok {
		for i, m := range msgs {
			id, err := h.append(ctx, m)
			if err != nil {
				return nil, fmt.Errorf("event %d: %w", i, err)
			}
			ids[i] = id
		}
		return ids, nil
	}
	es := make([]store.Entry, len(msgs))
	for i, m := range msgs {
		es[i] = entryOf(m)
	}
	stored, err := b.AppendBatch(ctx, es)
	if err != nil {
		return nil, fmt.Errorf("hub: publish %d events: %w", len(msgs), logError(err))
	}
	h.published.Add(uint64(len(stored)))
	h.noteAppended(stored[len(stored)-1].ID)
	for i, e := range stored {
		ids[i] = e.ID.String()
	}
	return ids, nil
}

// check validates m; reserved allows the types the hub reserves.
func (h *Hub) check(m Message, reserved bool) error {
	for _, t := range append([]string{m.Topic}, m.Also...) {
		if err := topic.Validate(t); err != nil {
			return fmt.Errorf("hub: %w", err)
		}
	}
	if !reserved && strings.HasPrefix(m.Type, ReservedTypePrefix) {
		return fmt.Errorf("%w: type %.64q is reserved (types starting with %q belong to the hub)", ErrInvalidMessage, m.Type, ReservedTypePrefix)
	}
	return h.validate(m)
}

// append appends m, checked, to the log.
func (h *Hub) append(ctx context.Context, m Message) (string, error) {
	e, err := h.log.Append(ctx, entryOf(m))
	if err != nil {
		return "", fmt.Errorf("hub: publish to %q: %w", m.Topic, logError(err))
	}
	h.published.Add(1)
	h.noteAppended(e.ID)
	return e.ID.String(), nil
}

// entryOf is the log entry of m.
func entryOf(m Message) store.Entry {
	return store.Entry{
		Topic:   m.Topic,
		Also:    m.Also,
		Private: m.Private,
		Event:   sse.Event{ID: m.ID, Type: m.Type, Data: m.Data, Retry: m.Retry},
	}
}

func (h *Hub) validate(m Message) error {
	switch {
	case strings.ContainsAny(m.ID, "\r\n\x00"):
		return fmt.Errorf("%w: id %.64q contains CR, LF or NUL", ErrInvalidMessage, m.ID)
	case strings.ContainsAny(m.Type, "\r\n"):
		return fmt.Errorf("%w: type %.64q contains CR or LF", ErrInvalidMessage, m.Type)
	case m.Retry < 0:
		return fmt.Errorf("%w: negative retry %v", ErrInvalidMessage, m.Retry)
	case len(m.Data) > h.opts.MaxDataSize:
		return fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(m.Data), h.opts.MaxDataSize)
	}
	return nil
}

// follow runs in its own goroutine: it dispatches every entry of the log,
// in order, to the subscribers whose patterns match.
func (h *Hub) follow(entries func(func(store.Entry, error) bool)) {
	for e, err := range entries {
		if errors.Is(err, store.ErrEvicted) {
			// Events went by undelivered: no subscriber may go on as if
			// its stream were whole. Each reconnects and replays.
			h.opts.Logger.Error("hub: fell behind the log; disconnecting every subscriber", "err", err)
			h.endAll(fmt.Errorf("%w: %w", ErrOverrun, err))
			continue
		}
		if err != nil {
			h.opts.Logger.Warn("hub: following the log", "err", err)
			continue
		}
		h.dispatch(e)
	}
}

// item is one live event as every matching subscriber receives it: its
// wire bytes are encoded once and shared.
type item struct {
	entry     store.Entry
	wire      []byte    // with the log's ID
	own       []byte    // with OwnID, made for the first subscription made with OwnIDs
	candidate Candidate // what filters are asked, shared by all on the follower
}

// wireFor returns the event's bytes as s sends them. own is made by the
// follower before it queues the item for the first subscription that needs
// it, so readers, who take items from the queue under its lock, see it.
func (it *item) wireFor(s *Subscription) []byte {
	if s.ownIDs {
		return it.own
	}
	return it.wire
}

func (h *Hub) dispatch(e store.Entry) {
	it := &item{entry: e, wire: appendEntry(nil, e, false)}
	h.mu.RLock()
	h.dispatched.Add(1)
	h.seq++
	seq := h.seq
	match := func(s *Subscription) {
		if s.lastSeq == seq { // matched by another of its patterns, or topics
			return
		}
		s.lastSeq = seq
		if !s.accepts(&it.candidate, e) {
			return
		}
		if s.ownIDs && it.own == nil {
			it.own = appendEntry(nil, e, true)
		}
		if !s.push(it) {
			h.overflowed = append(h.overflowed, s)
		}
	}
	h.index.Match(e.Topic, match)
	for _, t := range e.Also {
		h.index.Match(t, match)
	}
	h.mu.RUnlock()
	for i, s := range h.overflowed {
		h.slow.Add(1)
		s.End(fmt.Errorf("%w: %d events pending", ErrSlowSubscriber, h.opts.QueueSize))
		h.overflowed[i] = nil
	}
	h.overflowed = h.overflowed[:0]
	h.noteDispatched(e.ID)
}

// noteAppended and noteDispatched let Close wait until every event this
// node published has reached its subscribers' queues.
func (h *Hub) noteAppended(id store.ID) {
	h.dispatchMu.Lock()
	defer h.dispatchMu.Unlock()
	if id.Compare(h.appendedTo) > 0 {
		h.appendedTo = id
	}
}

func (h *Hub) noteDispatched(id store.ID) {
	h.dispatchMu.Lock()
	defer h.dispatchMu.Unlock()
	h.dispatchedTo = id
	if h.drained != nil && id.Compare(h.appendedTo) >= 0 {
		close(h.drained)
		h.drained = nil
	}
}

// Dispatched returns the log ID of the last event this hub dispatched to
// its subscriptions (its own and, with a shared log, other nodes'), or ""
// when it has dispatched none since it started: a cursor after which a
// subscriber misses nothing that happens from now on.
func (h *Hub) Dispatched() string {
	h.dispatchMu.Lock()
	defer h.dispatchMu.Unlock()
	if h.dispatchedTo.IsZero() {
		return ""
	}
	return h.dispatchedTo.String()
}

// waitDispatched returns a channel closed once every event appended by
// this node so far has been dispatched. Only Close calls it, once.
func (h *Hub) waitDispatched() <-chan struct{} {
	h.dispatchMu.Lock()
	defer h.dispatchMu.Unlock()
	ch := make(chan struct{})
	if h.appendedTo.Compare(h.dispatchedTo) <= 0 {
		close(ch)
	} else {
		h.drained = ch
	}
	return ch
}

// endAll ends every subscription with err.
func (h *Hub) endAll(err error) {
	h.mu.Lock()
	subs := make([]*Subscription, 0, len(h.subs))
	for s := range h.subs {
		subs = append(subs, s)
	}
	h.mu.Unlock()
	for _, s := range subs {
		s.End(err)
	}
}

// Stats returns the hub's counters.
func (h *Hub) Stats() Stats {
	h.mu.RLock()
	n := len(h.subs)
	h.mu.RUnlock()
	return Stats{
		Subscribers:     n,
		Published:       h.published.Load(),
		Dispatched:      h.dispatched.Load(),
		Delivered:       h.delivered.Load(),
		SlowDisconnects: h.slow.Load(),
		Replays:         h.replays.Load(),
		Gaps:            h.gaps.Load(),
	}
}

// Ping reports whether the hub's log is reachable, when the log can tell
// (it implements [store.Pinger]), and whether the hub is still open.
func (h *Hub) Ping(ctx context.Context) error {
	h.mu.RLock()
	closed := h.closed
	h.mu.RUnlock()
	if closed {
		return ErrClosed
	}
	if p, ok := h.log.(store.Pinger); ok {
		return p.Ping(ctx)
	}
	return nil
}

// Close shuts the hub down: Publish and Subscribe fail with [ErrClosed]
// from now on; publishes in flight finish and reach their subscribers;
// then every subscription ends with [ErrClosed] (its stream's last words
// are what it has pending and a jittered retry hint, see
// [Subscription.AppendPending]); then the hub's goroutine stops. The log is
// left open for its owner to close. Close returns ctx's error if ctx ends
// first, having still ended every subscription.
func (h *Hub) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	h.mu.Unlock()

	var err error
	inFlight := make(chan struct{})
	go func() { h.publishing.Wait(); close(inFlight) }()
	select {
	case <-inFlight:
		select {
		case <-h.waitDispatched():
		case <-ctx.Done():
			err = ctx.Err()
		}
	case <-ctx.Done():
		err = ctx.Err()
	}

	h.endAll(ErrClosed)
	if h.opts.Presence != nil {
		// The subscriptions' leaves are announced while the log is open.
		h.stopWatch()
		if aerr := h.announcer.finish(ctx); aerr != nil && err == nil {
			err = aerr
		}
	}
	h.stop()
	done := make(chan struct{})
	go func() { h.wg.Wait(); <-inFlight; close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		return errors.Join(err, ctx.Err())
	}
	return err
}
