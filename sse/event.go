package sse

import (
	"bytes"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Event is one server-sent event. The zero value is an event of type
// "message" with empty data.
//
// When encoding, an empty ID or Type writes no field, and a zero Retry writes
// no retry hint. When decoding, ID is the stream's last event ID at the moment
// the event was dispatched (the browser's MessageEvent.lastEventId), which
// may come from an earlier event; Type is empty when the stream named no type;
// Retry is the reconnection time the event's own block carried, if any.
type Event struct {
	// ID is the event's ID. It must not contain CR, LF or NUL.
	ID string
	// Type is the event type; empty means "message". It must not contain CR or LF.
	Type string
	// Data is the payload. It may hold any text; each line becomes one
	// "data:" field, and the receiver joins them with LF.
	Data string
	// Retry asks the client to wait this long before reconnecting. It is sent
	// in whole milliseconds; zero sends nothing.
	Retry time.Duration
}

// Validate reports whether e can be written without corrupting a stream:
// it returns an error wrapping [ErrInvalidID], [ErrInvalidType] or
// [ErrInvalidRetry], or nil.
func (e Event) Validate() error {
	if strings.ContainsAny(e.ID, "\r\n\x00") {
		return fmt.Errorf("%w: %q", ErrInvalidID, e.ID)
	}
	if strings.ContainsAny(e.Type, "\r\n") {
		return fmt.Errorf("%w: %q", ErrInvalidType, e.Type)
	}
	if e.Retry < 0 {
		return fmt.Errorf("%w: %v", ErrInvalidRetry, e.Retry)
	}
	return nil
}

// AppendEvent appends the wire form of e, closed by a blank line, to dst and
// returns the extended buffer. It allocates only when dst lacks room. When e
// is not valid (see [Event.Validate]) it returns dst unchanged and the error.
//
// Data is split into lines on CRLF, LF and CR, one "data:" field each, so a
// receiver sees the same text with every line end turned into LF. Empty data
// is sent as one empty "data:" field, which a browser dispatches as an event
// with empty data.
func AppendEvent(dst []byte, e Event) ([]byte, error) {
	if err := e.Validate(); err != nil {
		return dst, err
	}
	return appendEvent(dst, e.ID, e), nil
}

// AppendEventID appends the wire form of e with id as its ID, in place of
// e.ID, as [AppendEvent] does. The ID is given as bytes so that a server
// which formats its IDs into a buffer of its own (herald's hub does) need
// not make a string of each: with room in dst and an id that does not
// escape the caller, it does not allocate. An empty id writes no id field.
//
// When id contains CR, LF or NUL it returns dst unchanged and an error
// wrapping [ErrInvalidID]; when the rest of e is not valid, the error
// [Event.Validate] gives.
func AppendEventID(dst, id []byte, e Event) ([]byte, error) {
	if bytes.ContainsAny(id, "\r\n\x00") {
		// string(id) keeps id from escaping: callers pass stack buffers.
		return dst, fmt.Errorf("%w: %q", ErrInvalidID, string(id))
	}
	e.ID = ""
	if err := e.Validate(); err != nil {
		return dst, err
	}
	return appendEvent(dst, id, e), nil
}

// appendEvent appends e, with id as its ID, to dst; both are valid.
func appendEvent[ID string | []byte](dst []byte, id ID, e Event) []byte {
	if len(id) > 0 {
		dst = appendField(dst, "id: ", id)
	}
	if e.Type != "" {
		dst = appendField(dst, "event: ", e.Type)
	}
	if e.Retry > 0 {
		dst = appendRetryField(dst, e.Retry)
	}
	dst = appendLines(dst, "data", e.Data)
	return append(dst, '\n')
}

// AppendComment appends text as a comment, which receivers ignore: one line
// starting with ':' per line of text. Comments keep idle connections alive
// through proxies; an empty text appends ":" and a line end alone, the
// shortest heartbeat.
func AppendComment(dst []byte, text string) []byte {
	return appendLines(dst, "", text)
}

// AppendRetry appends a lone retry field, closed by a blank line, that sets
// the client's reconnection time to d (in whole milliseconds) without
// dispatching an event. A negative d is treated as zero.
func AppendRetry(dst []byte, d time.Duration) []byte {
	return append(appendRetryField(dst, max(d, 0)), '\n')
}

// WriteTo writes the wire form of e to w. It implements [io.WriterTo].
func (e Event) WriteTo(w io.Writer) (int64, error) {
	b, err := AppendEvent(make([]byte, 0, 64+len(e.Data)), e)
	if err != nil {
		return 0, err
	}
	n, err := w.Write(b)
	return int64(n), err
}

// MarshalText returns the wire form of e. It implements [encoding.TextMarshaler].
func (e Event) MarshalText() ([]byte, error) {
	return AppendEvent(nil, e)
}

func appendField[V string | []byte](dst []byte, name string, value V) []byte {
	dst = append(dst, name...)
	dst = append(dst, value...)
	return append(dst, '\n')
}

func appendRetryField(dst []byte, d time.Duration) []byte {
	dst = append(dst, "retry: "...)
	dst = strconv.AppendInt(dst, d.Milliseconds(), 10)
	return append(dst, '\n')
}

// appendLines writes one field named name per line of text, splitting on
// CRLF, LF and CR. An empty name writes comment lines.
// textLineEnd is the Decoder's lineEnd for a string: the index of the
// first CR or LF in text, or -1. Two IndexByte scans (vectorised) beat one
// strings.IndexAny, which tests a byte at a time (BenchmarkAppendEvent).
func textLineEnd(text string) int {
	i := strings.IndexByte(text, '\n')
	if i < 0 {
		return strings.IndexByte(text, '\r')
	}
	if j := strings.IndexByte(text[:i], '\r'); j >= 0 {
		return j
	}
	return i
}

func appendLines(dst []byte, name, text string) []byte {
	for {
		i := textLineEnd(text)
		line := text
		if i >= 0 {
			line = text[:i]
		}
		dst = append(dst, name...)
		if line == "" {
			dst = append(dst, ':')
		} else {
			dst = append(dst, ": "...)
			dst = append(dst, line...)
		}
		dst = append(dst, '\n')
		if i < 0 {
			return dst
		}
		if text[i] == '\r' && i+1 < len(text) && text[i+1] == '\n' {
			i++
		}
		text = text[i+1:]
	}
}
