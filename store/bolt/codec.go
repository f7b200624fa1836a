package bolt

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

// formatVersion is the first byte of every stored value (and was the meta
// bucket's version in layout 1; layout.go has the file's layout). A value
// written by a later, incompatible version is refused instead of misread.
const formatVersion = 1

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
//	data     the rest
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

// appendValue appends the stored form of an entry's topic, event and time
// (in Unix nanoseconds) to dst. The event's ID is not stored.
func appendValue(dst []byte, topic string, ev sse.Event, nanos int64) []byte {
	dst = append(dst, formatVersion)
	dst = binary.BigEndian.AppendUint64(dst, uint64(nanos))
	dst = binary.AppendVarint(dst, int64(ev.Retry))
	dst = binary.AppendUvarint(dst, uint64(len(topic)))
	dst = append(dst, topic...)
	dst = binary.AppendUvarint(dst, uint64(len(ev.Type)))
	dst = append(dst, ev.Type...)
	return append(dst, ev.Data...)
}

// valueNanos returns the time, in Unix nanoseconds, of a stored value.
func valueNanos(v []byte) (int64, error) {
	if len(v) < timeSize || v[0] != formatVersion {
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
	return store.Entry{
		ID:    id,
		Topic: topic,
		Event: sse.Event{Type: typ, Data: string(rest), Retry: time.Duration(retry)},
		Time:  time.Unix(0, nanos),
	}, nil
}

// valueTopic returns the topic of a stored value, without decoding the
// rest.
func valueTopic(v []byte) (string, error) {
	if _, err := valueNanos(v); err != nil {
		return "", err
	}
	rest := v[timeSize:]
	_, n := binary.Varint(rest)
	if n <= 0 {
		return "", fmt.Errorf("bad retry: %w", ErrCorrupt)
	}
	t, _, ok := cutString(rest[n:])
	if !ok {
		return "", fmt.Errorf("bad topic: %w", ErrCorrupt)
	}
	return t, nil
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
