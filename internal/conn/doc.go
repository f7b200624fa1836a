// Package conn is herald's connection engine: it writes hub subscriptions
// to clients' event streams.
//
// An [Engine] serves two kinds of stream. A connection taken over from
// net/http after its response head (see sse.Detach), given to
// [Engine.Serve], is written by one of the engine's writers, about one
// goroutine per core for every connection: each write is one non-blocking
// write(2) of everything pending, an idle stream holds no goroutine, and on
// Linux one epoll set notices clients closing. A stream net/http keeps
// (HTTP/2), given to [Engine.Stream], is written from its handler's
// goroutine. Both get heartbeats from the engine's one clock, in sixteen
// groups per interval, and only when they carried nothing since the last.
//
// The engine knows nothing of topics or events: it reads bytes from a
// [Source] (a hub subscription) when the source says it has some, and
// tells the source when its client is gone. docs/connections.md explains
// the design.
package conn
