// Package sse implements the Server-Sent Events wire format as the WHATWG
// HTML Standard defines it ("Server-sent events", section 9.2), in both
// directions, and the helper a net/http handler uses to stream events.
//
// Encoding: [AppendEvent], [AppendComment] and [AppendRetry] append the bytes of
// one event, comment or reconnection hint to a buffer; they allocate only when
// the buffer must grow. [AppendEventID] takes the ID as bytes, for a server
// that formats its own IDs. An [Event] whose ID or type could break the
// framing (CR, LF, or NUL in an ID) is refused with an error, never written.
// This package is the only one in herald that writes the format's fields.
//
// Decoding: a [Decoder] reads a stream the way a browser's EventSource does,
// byte for byte: one leading BOM removed, CR, LF and CRLF line ends, invalid
// UTF-8 replaced by U+FFFD, the last event ID carried from event to event, and
// an event without its closing blank line discarded at the end of the stream.
// [Decoder.SetLastEventID] seeds a reconnection's decoder with the ID it
// resumes from, as a browser carries it over.
//
// Streaming: [Open] turns an http.ResponseWriter into a [Stream]: it sets the
// headers, flushes through [net/http.ResponseController], sends heartbeats
// while the stream is idle and bounds each write with a deadline, so a client
// that stops reading cannot hold the handler forever. [LastEventID] reads the
// ID a reconnecting client resumes from (the Last-Event-ID header, else the
// lastEventId query parameter). [Detach] is for a
// server that serves many streams without a goroutine each: it takes an
// HTTP/1.x connection over from net/http and returns it with the response
// head to write first.
package sse
