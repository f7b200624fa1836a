// Package store defines the event log behind a hub: [Log] appends events,
// assigns their IDs, follows new ones, and reads history back a page at a
// time, kept per topic pattern by a [Retention].
// Implementations live in store/memory (the default), store/bolt and
// store/redis; store/storetest holds the conformance suite they all pass.
package store

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"

	"github.com/heraldsse/herald/sse"
)

var (
	// ErrUnknownID is returned by [Log.Read] when the ID is not one this
	// log could have assigned: malformed, from another epoch (an earlier
	// run of a log that does not survive restarts), or ahead of the head.
	ErrUnknownID = errors.New("store: unknown event id")

	// ErrEvicted is yielded by [Log.Follow] when entries the follower had
	// not read were dropped before it could (only a log shared by nodes,
	// which cannot wait for every node, drops them).
	ErrEvicted = errors.New("store: event id evicted from history")

	// ErrInvalidPolicy is matched by every error of [Retention.Validate],
	// and returned by a log opened with a Retention that is not valid.
	ErrInvalidPolicy = errors.New("store: invalid history policy")

	// ErrInvalidQuery is returned by [Log.Read] for a [Query] without a
	// pattern, or with an invalid one.
	ErrInvalidQuery = errors.New("store: invalid query")

	// ErrClosed is returned by every method after the log was closed.
	ErrClosed = errors.New("store: closed")

	// ErrBusy is returned by Append when the log's followers are so far
	// behind that it had no room for the event before ctx ended: the event
	// was not stored. Publishers push back on dispatch this way instead of
	// lapping a follower. Callers may retry.
	ErrBusy = errors.New("store: busy: followers are behind")

	// ErrUnavailable wraps failures to reach a log's backing service, such
	// as a Redis server that does not answer. Callers may retry.
	ErrUnavailable = errors.New("store: unavailable")
)

// ID is an event's position in its log, and its wire form is the event ID
// clients see: two decimal numbers joined by '-'. IDs of one log compare in
// log order: first by Major, then by Minor. Logs that restart empty use
// Major as an epoch (so an ID from an earlier run is recognised as unknown)
// and Minor as a sequence number; Redis uses a stream ID's milliseconds and
// sequence. The zero ID comes before every event.
type ID struct {
	Major, Minor uint64
}

// ParseID parses the wire form of an ID. It returns an error wrapping
// [ErrUnknownID] for anything else.
func ParseID(s string) (ID, error) {
	major, minor, ok := strings.Cut(s, "-")
	if ok {
		a, errA := strconv.ParseUint(major, 10, 64)
		b, errB := strconv.ParseUint(minor, 10, 64)
		// Reject "+1", "01" and friends so one ID has one spelling.
		if errA == nil && errB == nil && strconv.FormatUint(a, 10) == major && strconv.FormatUint(b, 10) == minor {
			return ID{a, b}, nil
		}
	}
	return ID{}, fmt.Errorf("%w: %.64q", ErrUnknownID, s)
}

// String returns the wire form, "Major-Minor".
func (id ID) String() string {
	var b [41]byte // two 20-digit numbers and the dash: one allocation, the string
	return string(id.Append(b[:0]))
}

// Append appends the wire form of id to dst.
func (id ID) Append(dst []byte) []byte {
	dst = strconv.AppendUint(dst, id.Major, 10)
	dst = append(dst, '-')
	return strconv.AppendUint(dst, id.Minor, 10)
}

// Compare returns -1, 0 or +1 as id comes before, is, or comes after other
// in log order.
func (id ID) Compare(other ID) int {
	switch {
	case id.Major != other.Major:
		if id.Major < other.Major {
			return -1
		}
		return 1
	case id.Minor < other.Minor:
		return -1
	case id.Minor > other.Minor:
		return 1
	}
	return 0
}

// IsZero reports whether id is the zero ID.
func (id ID) IsZero() bool { return id == ID{} }

// Entry is one event in a log.
type Entry struct {
	// ID is assigned by the log on append.
	ID ID
	// Topic is the topic the event was published on.
	Topic string
	// Also are more topics the event was published on (Mercure's
	// alternate topics): it matches a subscription or a query when Topic
	// or one of these does. Usually none. It is kept under Topic's
	// retention policy: a Read finds it through Also only in the histories
	// of the policies that can hold the query's patterns.
	Also []string
	// Private marks an event that only subscriptions allowed to see it
	// receive (Mercure's private updates); the hub decides who is.
	Private bool
	// Event is the event as published. Its ID field is the publisher's own
	// ID for it, if it gave one (Mercure's id), and usually empty: the
	// entry's ID is the event's ID on the wire.
	Event sse.Event
	// Time is when the log stored the event.
	Time time.Time
}

// Log is an ordered log of events with bounded history: the hub appends
// what is published, follows what is appended (on this node or, for a
// shared log, on any node), and reads history to replay it to clients that
// reconnect.
//
// Every entry reaches every follower, whatever its history policy. History
// is kept per policy ([Retention]): a policy's events are evicted by its
// own bounds only, and a policy of size zero keeps none.
//
// Implementations are safe for concurrent use by any number of goroutines.
// They never call back into the hub. A Follow iteration may be stopped
// early by the caller (break); it holds no lock while it yields. Read holds
// no lock or transaction between calls.
type Log interface {
	// Append stores e (its ID and Time are ignored) under the retention
	// policy of e.Topic, assigns it the next ID and the time, and returns
	// the stored entry; Also, Private and the event's own ID are kept with
	// it. Once Append returns nil, the
	// entry is visible to Read (if its policy keeps any history) and
	// Follow and, for a durable log, stored as durably as the log
	// promises. When followers on this node are so far behind that the
	// log has no room for the entry, Append waits for room; if ctx ends
	// first, it returns an error wrapping [ErrBusy] and stores nothing. An
	// unreachable backing service gives an error wrapping
	// [ErrUnavailable].
	Append(ctx context.Context, e Entry) (Entry, error)

	// Read returns a page of history for replay: at most q.Max kept
	// entries after the one with ID after whose topics match one of
	// q.Patterns, in log order, merged across the policies that can keep
	// such topics, up to the head of the log as it is when Read is
	// called; the zero ID reads from the oldest entry kept. See [Page] for
	// what else a page says. An after that is not one of this log's IDs
	// (malformed, another epoch, ahead of the head) gives an error wrapping
	// [ErrUnknownID]; a caller that wants what is still kept then reads
	// from the zero ID. Entries lost to retention are not an error: the
	// page says so in Page.Evicted. A query without a valid pattern gives
	// an error wrapping [ErrInvalidQuery].
	Read(ctx context.Context, after ID, q Query) (Page, error)

	// Follow yields, in log order and exactly once each, every entry
	// appended after Follow returned (the starting point is fixed by the
	// call, not by the first iteration), until ctx ends, at which point the
	// iteration ends without an error. A failure of the backing service is
	// yielded as an error wrapping [ErrUnavailable] and following goes on,
	// resuming after the last entry yielded once the service is back, so
	// nothing is skipped. A follower that falls so far behind that entries
	// it has not read are dropped gets an error wrapping [ErrEvicted] and
	// resumes at the oldest entry still there (a log on one node makes
	// Append wait instead, once the iteration has started).
	Follow(ctx context.Context) iter.Seq2[Entry, error]
}

// MaxBatch is the most entries one [BatchAppender.AppendBatch] takes.
const MaxBatch = 256

// BatchAppender is a [Log] that appends several entries at once, in one
// round trip or one commit where it can.
type BatchAppender interface {
	// AppendBatch stores es (at most [MaxBatch]) as [Log.Append] would
	// each, in order: their IDs increase in the order given, and no other
	// caller's entry lands between them. It returns the stored entries in
	// the same order. Errors are Append's, and fail the whole call: when
	// ctx ends before the entries are queued, or the log refuses them
	// (closed, busy), nothing is stored; when the backing service fails
	// while storing them, some may have been stored.
	AppendBatch(ctx context.Context, es []Entry) ([]Entry, error)
}

// CheckBatch returns an error for a batch [BatchAppender.AppendBatch]
// refuses whatever the log: empty, or longer than [MaxBatch].
func CheckBatch(es []Entry) error {
	if len(es) == 0 || len(es) > MaxBatch {
		return fmt.Errorf("append batch: %d entries, want 1 to %d", len(es), MaxBatch)
	}
	return nil
}

// Query says which entries [Log.Read] returns.
type Query struct {
	// Patterns are topic patterns: an entry is returned when its topic
	// matches one of them. At least one.
	Patterns []string
	// Max is the most entries one page holds. Zero or negative means 64.
	Max int
}

// Page is one read of history ([Log.Read]).
type Page struct {
	// Entries are the kept entries read, in log order; the caller owns
	// them.
	Entries []Entry
	// Next is where the next page starts: every entry up to it, matching
	// or not, was considered. When Done, it is the head of the log as
	// Read saw it; it is after itself when the log is empty.
	Next ID
	// Done reports that the page reached the head of the log as Read saw
	// it: a later page holds only what was appended since.
	Done bool
	// Evicted reports that history lost events this page would have
	// held: a policy that can keep events matching the query evicted (or,
	// for a policy of size zero, never kept) its newest such event with an
	// ID after after and up to Next. A resume from after has then lost
	// some. Each loss is reported once, by the page whose range (after,
	// Next] holds the newest event the policy evicted, so a reader that
	// pages on from Next is not told twice; the last page of a read ends
	// at the head, so a loss is reported by then at the latest. The zero
	// ID asks only for what is kept: a page read after it never says
	// Evicted (though a later page of the same read may, when a policy's
	// losses lie after the first page's Next: with several policies, or
	// one of size zero, among those that can hold the query).
	Evicted bool
}

// A Log that holds resources also implements io.Closer; whoever opened it
// closes it, after which its methods fail with [ErrClosed] and its Follow
// iterations end.

// Pinger is a Log that can report whether its backing service is reachable.
// A server's readiness check uses it when present.
type Pinger interface {
	Ping(ctx context.Context) error
}
