package bolt

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

func TestCodecRoundTrip(t *testing.T) {
	id := store.ID{Major: 1767225600000, Minor: 42}
	for _, tc := range []struct {
		name  string
		topic string
		ev    sse.Event
		nanos int64
	}{
		{"empty", "", sse.Event{}, 0},
		{"all_fields", "chat/lobby", sse.Event{Type: "message", Data: "two\nlines", Retry: 3 * time.Second}, 1767225600123456789},
		{"negative_time_and_retry", "t", sse.Event{Data: "x", Retry: -1}, -5},
		{"binary", "intl/ü", sse.Event{Type: "grüße", Data: "nul\x00inside\r\n"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := appendValue(nil, tc.topic, tc.ev, tc.nanos)
			got, err := decodeEntry(id, v)
			if err != nil {
				t.Fatalf("decodeEntry(appendValue(%q, %+v)): %v", tc.topic, tc.ev, err)
			}
			want := store.Entry{ID: id, Topic: tc.topic, Event: tc.ev, Time: time.Unix(0, tc.nanos)}
			if got.ID != want.ID || got.Topic != want.Topic || got.Event != want.Event || !got.Time.Equal(want.Time) {
				t.Errorf("decodeEntry(appendValue(...)) = %+v, want %+v", got, want)
			}
		})
	}
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, v := range [][]byte{nil, {}, {formatVersion}, {2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, {formatVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}} {
		if _, err := decodeEntry(store.ID{Major: 1, Minor: 1}, v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeEntry(%x) = %v, want an error wrapping ErrCorrupt", v, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendValue(nil, "chat/lobby", sse.Event{Type: "message", Data: "hello", Retry: time.Second}, 1767225600000000000))
	f.Add(appendValue(nil, "", sse.Event{}, 0))
	f.Add([]byte{formatVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, v []byte) {
		id := store.ID{Major: 1, Minor: 1}
		e, err := decodeEntry(id, v)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("decodeEntry(%x) = %v, want nil or an error wrapping ErrCorrupt", v, err)
			}
			return
		}
		// What decodes re-encodes to a value that decodes the same.
		again, err := decodeEntry(id, appendValue(nil, e.Topic, e.Event, e.Time.UnixNano()))
		if err != nil || again.Topic != e.Topic || again.Event != e.Event || !again.Time.Equal(e.Time) {
			t.Fatalf("re-decoding %+v gave %+v, %v", e, again, err)
		}
	})
}
