// Package presence keeps the live subscriptions of a hub, so that anyone can
// ask who is subscribed to what, on every node: one [Subscription] record
// per connection, with the subscriber ID the hub generated ([NewID]), its
// topics or matchers, when it started, the node serving it and the payload
// claim of its token.
//
// A hub keeps a [Registry]: it calls [Registry.Join] when a subscription
// starts and [Registry.Leave] when it ends, and reads the registry with
// [Registry.List], [Registry.Get] and [Registry.Count]. Joins and leaves
// never wait for I/O. [Memory] is the registry of one node (the memory and
// bolt stores); package presence/redis shares one registry between the nodes
// of a cluster through Redis, and reaps the subscriptions of a node that
// died without saying goodbye, reporting each through [Registry.Watch] so
// that the hub can announce that they left.
//
// docs/presence.md describes the model, the Redis layout, the time bound on
// reaping and the cost per subscription.
package presence
