// Package hub is herald's publish/subscribe core: events published on
// topics are appended to a [store.Log], and every subscriber whose patterns
// match a topic receives them, in log order, through a bounded queue. The
// caller opens the log (store/memory for one process, store/bolt for a
// file, store/redis for several nodes), passes it in [Options].Log, and
// closes it after [Hub.Close]; the hub never imports or closes a store.
//
// A publisher never waits for a subscriber: each event is encoded once and
// the same bytes are handed to every matching subscriber's queue without
// blocking. A subscriber whose queue is full is disconnected with
// [ErrSlowSubscriber]; its client resumes from history when it reconnects
// with its last event ID, so nothing is lost while history covers the gap.
//
// On subscribe with a last event ID, the hub replays every stored event
// after it that matches, then live ones, with no gap and no duplicate
// between the two. When it cannot (the ID is unknown or already evicted)
// it first sends an event of type [TypeGap].
//
// A subscription has one reader. In Go, [Subscription.Events] yields its
// events. A stream server reads it as the bytes of an event stream:
// [Subscription.Notify] says when there is something to read, and
// [Subscription.AppendPending] appends it, already encoded, ending with the
// stream's last words. herald's server hands subscriptions to its
// connection engine (internal/conn) that way; docs/architecture.md
// explains the layers. The hub itself does no I/O beyond its log.
//
// Topics are '/'-separated segments; patterns may use "*" for one segment
// and a final "**" for one or more.
package hub
