package sse

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"time"
	"unicode/utf8"
)

// DefaultMaxSize is the longest line, and the most data one event may hold,
// that a [Decoder] accepts unless told otherwise: 1 MiB.
const DefaultMaxSize = 1 << 20

// A Decoder reads events from a stream, following the WHATWG HTML Standard's
// "event stream interpretation" exactly, as a browser's EventSource does:
//
//   - the stream is decoded as UTF-8, each invalid sequence becoming U+FFFD,
//     and one leading byte order mark (only one) is removed;
//   - lines end with CRLF, LF or CR, even when a CR ends one read and its LF
//     starts the next;
//   - a line "name:value" sets field name, with one leading space removed from
//     value; a line without a colon is a field with an empty value; a line
//     starting with a colon is a comment; unknown fields, and known ones in the
//     wrong case, are ignored;
//   - "id" sets the last event ID unless its value contains NUL; "retry" sets
//     the reconnection time when its value is all ASCII digits; "data" lines
//     are joined with LF; "event" sets the type;
//   - a blank line dispatches the event: it commits the last event ID, and
//     yields an event unless no data field was seen; the last event ID carries
//     over to later events until the stream changes it;
//   - an event still open when the stream ends is discarded.
//
// A Decoder buffers its input; it is not safe for concurrent use.
type Decoder struct {
	r       io.Reader
	buf     []byte // read buffer; unread bytes are buf[off:]
	off     int
	partial []byte // start of a line that spans reads
	err     error  // sticky: the error Next returns from now on
	readErr error  // returned by the reader with the bytes in buf; reported once they are used
	max     int

	started bool // the first line has been seen (BOM handled)
	skipLF  bool // the previous line ended with CR: an LF that follows is part of it
	scratch []byte

	data       []byte
	hasData    bool
	typ        []byte
	idBuf      string
	lastID     string
	blockRetry time.Duration
	retry      time.Duration
	retrySet   bool
}

// NewDecoder returns a Decoder that reads from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, max: DefaultMaxSize}
}

// SetMaxSize sets the longest line, and the most data a single event may
// hold, in bytes. Past it [Decoder.Next] fails with [ErrTooLarge], so a
// hostile or broken stream cannot make the decoder use unbounded memory.
// A value <= 0 restores [DefaultMaxSize].
func (d *Decoder) SetMaxSize(n int) {
	if n <= 0 {
		n = DefaultMaxSize
	}
	d.max = n
}

// LastEventID returns the stream's last event ID: the value of the latest
// "id" field whose event was closed by a blank line. A client sends it as
// Last-Event-ID when it reconnects.
func (d *Decoder) LastEventID() string { return d.lastID }

// SetLastEventID sets the stream's last event ID to id, as if an event
// block carrying "id: id" had just been dispatched: events without an "id"
// field report it until the stream sets another. A client that reconnects
// seeds a new connection's Decoder with the ID it resumes from, as a
// browser does, so an event sent without an ID after a reconnection
// still reports it. It fails, changing nothing, with an error wrapping
// [ErrInvalidID] when id contains CR, LF or NUL, which no stream could set.
func (d *Decoder) SetLastEventID(id string) error {
	if err := (Event{ID: id}).Validate(); err != nil {
		return err
	}
	d.lastID, d.idBuf = id, id
	return nil
}

// Retry returns the latest reconnection time the stream asked for, and false
// if it has not asked. A "retry" field takes effect as soon as its line is
// read, whether or not its event is dispatched.
func (d *Decoder) Retry() (time.Duration, bool) { return d.retry, d.retrySet }

// Next reads until the next event is dispatched and returns it. At the end of
// the stream it returns io.EOF, discarding an event that was not closed by a
// blank line. Any other read error is returned as is; a line or event larger
// than the maximum size (see [Decoder.SetMaxSize]) gives an error wrapping
// [ErrTooLarge]. Once Next returns an error, it returns the same error again.
func (d *Decoder) Next() (Event, error) {
	for d.err == nil {
		line, err := d.readLine()
		if err != nil {
			d.err = err
			break
		}
		if ev, ok, err := d.processLine(line); err != nil {
			d.err = err
		} else if ok {
			return ev, nil
		}
	}
	return Event{}, d.err
}

// readLine returns the next line without its end, decoded as UTF-8. The
// slice is valid until the next call.
func (d *Decoder) readLine() ([]byte, error) {
	d.partial = d.partial[:0]
	for {
		b := d.buf[d.off:]
		if d.skipLF && len(b) > 0 {
			d.skipLF = false
			if b[0] == '\n' {
				d.off++
				b = b[1:]
			}
		}
		if i := lineEnd(b); i >= 0 {
			d.skipLF = b[i] == '\r'
			d.off += i + 1
			line := b[:i]
			if len(d.partial) > 0 {
				d.partial = append(d.partial, line...)
				line = d.partial
			}
			if len(line) > d.max {
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, d.max)
			}
			return d.decodeLine(line), nil
		}
		if len(b) > 0 {
			if len(d.partial)+len(b) > d.max {
				return nil, fmt.Errorf("%w: line longer than %d bytes", ErrTooLarge, d.max)
			}
			d.partial = append(d.partial, b...)
		}
		if err := d.fill(); err != nil {
			return nil, err
		}
	}
}

// lineEnd returns the index of the first CR or LF in b, or -1.
func lineEnd(b []byte) int {
	lf := bytes.IndexByte(b, '\n')
	if lf < 0 {
		return bytes.IndexByte(b, '\r')
	}
	if cr := bytes.IndexByte(b[:lf], '\r'); cr >= 0 {
		return cr
	}
	return lf
}

// fill reads more input into the (emptied) buffer. An error the reader
// returned together with bytes is kept until those bytes are used: the
// reader is not called again after it has reported an error.
func (d *Decoder) fill() error {
	if d.readErr != nil {
		return d.readErr
	}
	if d.buf == nil {
		d.buf = make([]byte, 4096)
	}
	for range 100 {
		n, err := d.r.Read(d.buf[:cap(d.buf)])
		d.buf, d.off = d.buf[:n], 0
		if n > 0 {
			d.readErr = err
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

var bom = []byte("\xEF\xBB\xBF")

// decodeLine strips the stream's leading BOM from its first line and replaces
// invalid UTF-8 as the WHATWG Encoding Standard's UTF-8 decoder does.
func (d *Decoder) decodeLine(line []byte) []byte {
	if !d.started {
		d.started = true
		line = bytes.TrimPrefix(line, bom)
	}
	if utf8.Valid(line) {
		return line
	}
	d.scratch = appendUTF8Replacing(d.scratch[:0], line)
	return d.scratch
}

// processLine interprets one line. It reports an event when the line is
// blank and data was buffered.
func (d *Decoder) processLine(line []byte) (Event, bool, error) {
	if len(line) == 0 {
		ev, ok := d.dispatch()
		return ev, ok, nil
	}
	if line[0] == ':' {
		return Event{}, false, nil
	}
	name, value := line, []byte(nil)
	if i := bytes.IndexByte(line, ':'); i >= 0 {
		name, value = line[:i], line[i+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(name) {
	case "event":
		d.typ = append(d.typ[:0], value...)
	case "data":
		if len(d.data)+len(value)+1 > d.max {
			return Event{}, false, fmt.Errorf("%w: event data longer than %d bytes", ErrTooLarge, d.max)
		}
		d.data = append(d.data, value...)
		d.data = append(d.data, '\n')
		d.hasData = true
	case "id":
		if bytes.IndexByte(value, 0) < 0 && string(value) != d.idBuf {
			d.idBuf = string(value)
		}
	case "retry":
		if ms, ok := parseRetry(value); ok {
			d.retry, d.retrySet, d.blockRetry = ms, true, ms
		}
	}
	return Event{}, false, nil
}

// parseRetry parses a retry value: ASCII digits only, at least one, and
// small enough to be a time.Duration. Anything else is ignored.
func parseRetry(v []byte) (time.Duration, bool) {
	if len(v) == 0 {
		return 0, false
	}
	const maxMS = math.MaxInt64 / int64(time.Millisecond)
	var ms int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		digit := int64(c - '0')
		if ms > (maxMS-digit)/10 {
			return 0, false
		}
		ms = ms*10 + digit
	}
	return time.Duration(ms) * time.Millisecond, true
}

func (d *Decoder) dispatch() (Event, bool) {
	d.lastID = d.idBuf
	if !d.hasData {
		d.typ, d.blockRetry = d.typ[:0], 0
		return Event{}, false
	}
	data := d.data[:len(d.data)-1] // the final LF
	ev := Event{ID: d.lastID, Type: string(d.typ), Data: string(data), Retry: d.blockRetry}
	d.data, d.hasData, d.typ, d.blockRetry = d.data[:0], false, d.typ[:0], 0
	return ev, true
}

// appendUTF8Replacing appends src to dst with each invalid UTF-8 sequence
// replaced by U+FFFD, following the WHATWG Encoding Standard's UTF-8 decoder:
// a maximal prefix of a valid sequence becomes one U+FFFD, and the byte that
// broke it is read again.
func appendUTF8Replacing(dst, src []byte) []byte {
	const replacement = "\uFFFD"
	for i := 0; i < len(src); {
		if src[i] < utf8.RuneSelf {
			dst = append(dst, src[i])
			i++
			continue
		}
		if r, n := utf8.DecodeRune(src[i:]); r != utf8.RuneError || n > 1 {
			dst = append(dst, src[i:i+n]...)
			i += n
			continue
		}
		i += invalidPrefix(src[i:])
		dst = append(dst, replacement...)
	}
	return dst
}

// invalidPrefix returns the length of the ill-formed sequence at the start of
// b (at least 1): the lead byte plus the continuation bytes that were still
// acceptable for it.
func invalidPrefix(b []byte) int {
	var need int
	switch c := b[0]; {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
	case c >= 0xF0 && c <= 0xF4:
		need = 3
	default:
		return 1
	}
	// The second byte's range is narrower after four lead bytes (Unicode's
	// table of well-formed sequences): no overlong forms, no surrogates, no
	// code points past U+10FFFF.
	lo, hi := byte(0x80), byte(0xBF)
	switch b[0] {
	case 0xE0:
		lo = 0xA0
	case 0xED:
		hi = 0x9F
	case 0xF0:
		lo = 0x90
	case 0xF4:
		hi = 0x8F
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}
