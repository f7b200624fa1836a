package bolt

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/heraldsse/herald/store"
)

// formatVersion is the first byte of every stored value (and was the meta
// bucket's version in layout 1; layout.go has the file's layout). A value
// written by a later, incompatible version is refused instead of misread.
const formatVersion = 2

// formatV1 is the value format before entries had alternate topics, a
// private flag and their publisher's ID: still read, never written.
const formatV1 = 1

// timeSize is where an encoded value's fields after the time begin: the
// version byte, then the time as 8 bytes, so retention can read an entry's
// age without decoding the rest.
const timeSize = 1 + 8

// The layout of a stored value:
//
//	version  1 byte, formatVersion
//	time     int64 Unix nanoseconds, big-endian
//	retry    varint, nanoseconds
//	topic    uvarint length, bytes
//	type     uvarint length, bytes
//	id       uvarint length, bytes: the publisher's own ID, usually empty
//	flags    1 byte: 1 when the entry is private
//	also     uvarint count, then each topic as uvarint length, bytes
//	data     the rest
//
// Format 1 had no id, flags or also.
//
// The key is the entry's Minor as 8 big-endian bytes, so keys sort in log
// order.

// appendKey appends the key of the entry with sequence seq to dst.
func appendKey(dst []byte, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(dst, seq)
}

// keySeq returns the sequence a key holds.
func keySeq(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("key %x is not 8 bytes: %w", k, ErrCorrupt)
	}
	return binary.BigEndian.Uint64(k), nil
}

// appendValue appends the stored form of e, its time being nanos (Unix
// nanoseconds), to dst. Its log ID is the key, not stored here.
func appendValue(dst []byte, e store.Entry, nanos int64) []byte {
	ev := e.Event
	dst = append(dst, formatVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(nanos))
	dst = binary.AppendVarint(dst, int64(ev.Retry))
	dst = appendString(dst, e.Topic)
	dst = appendString(dst, ev.Type)
	dst = appendString(dst, ev.ID)
	var flags byte
	if e.Private {
		flags |= 1
	}
	dst = append(dst, flags)
	dst = binary.AppendUvarint(dst, uint64(len(e.Also)))
	for _, t := range e.Also {
		dst = appendString(dst, t)
	}
	return append(dst, ev.Data...)
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

// valueNanos returns the time, in Unix nanoseconds, of a stored value.
func valueNanos(v []byte) (int64, error) {
	if len(v) < timeSize || v[0] != formatVersion && v[0] != formatV1 {
		return 0, fmt.Errorf("value of %d bytes has no version %d header: %w", len(v), formatVersion, ErrCorrupt)
	}
	return int64(binary.BigEndian.Uint64(v[1:timeSize])), nil
}

// decodeEntry decodes a stored value into an entry with the given ID. The
// strings are copies, so the entry stays valid after the transaction that
// read v ends.
func decodeEntry(id store.ID, v []byte) (store.Entry, error) {
	nanos, err := valueNanos(v)
	if err != nil {
		return store.Entry{}, fmt.Errorf("entry %v: %w", id, err)
	}
	rest := v[timeSize:]
	retry, n := binary.Varint(rest)
	if n <= 0 {
		return store.Entry{}, fmt.Errorf("entry %v: bad retry: %w", id, ErrCorrupt)
	}
	rest = rest[n:]
	topic, rest, ok := cutString(rest)
	if !ok {
		return store.Entry{}, fmt.Errorf("entry %v: bad topic: %w", id, ErrCorrupt)
	}
	typ, rest, ok := cutString(rest)
	if !ok {
		return store.Entry{}, fmt.Errorf("entry %v: bad event type: %w", id, ErrCorrupt)
	}
	e := store.Entry{ID: id, Topic: topic, Time: time.Unix(0, nanos)}
	e.Event.Type, e.Event.Retry = typ, time.Duration(retry)
	if v[0] != formatV1 {
		if e.Event.ID, rest, ok = cutString(rest); !ok {
			return store.Entry{}, fmt.Errorf("entry %v: bad own ID: %w", id, ErrCorrupt)
		}
		if e.Private, e.Also, rest, ok = cutFlagsAlso(rest); !ok {
			return store.Entry{}, fmt.Errorf("entry %v: bad flags or topics: %w", id, ErrCorrupt)
		}
	}
	e.Event.Data = string(rest)
	return e, nil
}

// valueTopics returns the topic of a stored value and the more topics it
// was published on, without decoding the rest.
func valueTopics(v []byte) (string, []string, error) {
	if _, err := valueNanos(v); err != nil {
		return "", nil, err
	}
	rest := v[timeSize:]
	_, n := binary.Varint(rest)
	if n <= 0 {
		return "", nil, fmt.Errorf("bad retry: %w", ErrCorrupt)
	}
	t, rest, ok := cutString(rest[n:])
	if !ok {
		return "", nil, fmt.Errorf("bad topic: %w", ErrCorrupt)
	}
	if v[0] == formatV1 {
		return t, nil, nil
	}
	var also []string
	for range 2 { // the type, then the own ID
		if _, rest, ok = cutString(rest); !ok {
			return "", nil, fmt.Errorf("bad type or own ID: %w", ErrCorrupt)
		}
	}
	if _, also, _, ok = cutFlagsAlso(rest); !ok {
		return "", nil, fmt.Errorf("bad flags or topics: %w", ErrCorrupt)
	}
	return t, also, nil
}

// cutFlagsAlso reads the flags byte and the alternate topics from b.
func cutFlagsAlso(b []byte) (private bool, also []string, rest []byte, ok bool) {
	if len(b) == 0 {
		return false, nil, b, false
	}
	private, b = b[0]&1 != 0, b[1:]
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)) {
		return false, nil, b, false
	}
	b = b[k:]
	for range n {
		var t string
		if t, b, ok = cutString(b); !ok {
			return false, nil, b, false
		}
		also = append(also, t)
	}
	return private, also, b, true
}

// cutString reads a uvarint length and that many bytes from b.
func cutString(b []byte) (s string, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return "", b, false
	}
	b = b[k:]
	return string(b[:n]), b[n:], true
}
