// Package redis is a [presence.Registry] shared by the nodes of a cluster
// through Redis: every node lists the subscriptions of every live node, and
// the subscriptions of a node that stops without saying goodbye (SIGKILL,
// power loss) are reaped by the others within a bounded time and reported,
// once, through [Registry.Watch].
//
// The cost does not grow with the number of subscriptions at rest. Each node
// keeps one hash of its subscriptions (HSET on join, HDEL on leave: the
// changes of each FlushInterval, 100 ms by default, go in one Lua script,
// one round trip) and one liveness key with a TTL (15 s), refreshed every
// Heartbeat (5 s); a set holds the node IDs. Every CheckInterval (5 s) each
// node reads the set and the liveness keys (SMEMBERS, MGET); a node whose
// key expired is dead: one node wins the right to reap it (SET NX with an
// expiry), reads its hash a page at a time (HSCAN, with the progress kept in
// Redis so that another node resumes a reaping whose reaper died), reports
// each record, and finally deletes the hash and removes the node. A dead
// node is thus reaped within TTL + CheckInterval (20 s) plus the time to
// read its hash (about 4 ms per 1,000 records).
//
// The registry keeps its node's records in memory as well ([presence.Memory]),
// so joins and leaves never wait for Redis, and when Redis loses them (a
// restart, or a node cut off long enough to be reaped) it writes them all
// again. Calls that read Redis return errors wrapping
// [store.ErrUnavailable] when it cannot be reached.
//
// All keys share one hash tag, so the scripts run on Redis Cluster too (all
// presence keys then live on one shard). docs/presence.md has the key
// layout, the bound and the costs measured.
package redis
