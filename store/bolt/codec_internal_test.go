package bolt

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
)

func TestCodecRoundTrip(t *testing.T) {
	id := store.ID{Major: 1767225600000, Minor: 42}
	for _, tc := range []struct {
		name  string
		e     store.Entry
		nanos int64
	}{
		{"empty", store.Entry{}, 0},
		{"all_fields", store.Entry{Topic: "chat/lobby", Event: sse.Event{Type: "message", Data: "two\nlines", Retry: 3 * time.Second}}, 1767225600123456789},
		{"negative_time_and_retry", store.Entry{Topic: "t", Event: sse.Event{Data: "x", Retry: -1}}, -5},
		{"binary", store.Entry{Topic: "intl/ü", Event: sse.Event{Type: "grüße", Data: "nul\x00inside\r\n"}}, 1},
		{"mercure_update", store.Entry{Topic: "mercure/a", Also: []string{"mercure/b", "mercure/c"}, Private: true,
			Event: sse.Event{ID: "urn:uuid:e1ee88e2", Type: "t", Data: "d"}}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := appendValue(nil, tc.e, tc.nanos)
			got, err := decodeEntry(id, v)
			if err != nil {
				t.Fatalf("decodeEntry(appendValue(%+v)): %v", tc.e, err)
			}
			want := tc.e
			want.ID, want.Time = id, time.Unix(0, tc.nanos)
			if !sameEntry(got, want) {
				t.Errorf("decodeEntry(appendValue(...)) = %+v, want %+v", got, want)
			}
			topic, also, err := valueTopics(v)
			if err != nil || topic != want.Topic || !reflect.DeepEqual(also, want.Also) {
				t.Errorf("valueTopics = %q, %q, %v; want %q, %q", topic, also, err, want.Topic, want.Also)
			}
		})
	}
}

// TestDecodeFormat1 checks that values written before entries had
// alternate topics, a private flag and their own ID still read.
func TestDecodeFormat1(t *testing.T) {
	v := []byte{formatV1}
	v = binary.BigEndian.AppendUint64(v, 5)
	v = binary.AppendVarint(v, int64(time.Second))
	v = appendString(v, "chat/lobby")
	v = appendString(v, "message")
	v = append(v, "hello"...)
	got, err := decodeEntry(store.ID{Major: 1, Minor: 2}, v)
	want := store.Entry{ID: store.ID{Major: 1, Minor: 2}, Topic: "chat/lobby", Time: time.Unix(0, 5),
		Event: sse.Event{Type: "message", Data: "hello", Retry: time.Second}}
	if err != nil || !sameEntry(got, want) {
		t.Errorf("decodeEntry(format 1) = %+v, %v; want %+v", got, err, want)
	}
}

func sameEntry(a, b store.Entry) bool {
	return a.ID == b.ID && a.Topic == b.Topic && a.Event == b.Event && a.Time.Equal(b.Time) &&
		a.Private == b.Private && len(a.Also) == len(b.Also) && (len(a.Also) == 0 || reflect.DeepEqual(a.Also, b.Also))
}

func TestDecodeRejectsGarbage(t *testing.T) {
	for _, v := range [][]byte{
		nil, {}, {formatVersion}, {3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
		{formatVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9},
		{formatVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},          // no flags
		{formatVersion, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}, // an alternate-topic count past the end
	} {
		if _, err := decodeEntry(store.ID{Major: 1, Minor: 1}, v); !errors.Is(err, ErrCorrupt) {
			t.Errorf("decodeEntry(%x) = %v, want an error wrapping ErrCorrupt", v, err)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(appendValue(nil, store.Entry{Topic: "chat/lobby", Event: sse.Event{Type: "message", Data: "hello", Retry: time.Second}}, 1767225600000000000))
	f.Add(appendValue(nil, store.Entry{}, 0))
	f.Add(appendValue(nil, store.Entry{Topic: "m/a", Also: []string{"m/b"}, Private: true, Event: sse.Event{ID: "x"}}, 3))
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
		again, err := decodeEntry(id, appendValue(nil, e, e.Time.UnixNano()))
		if err != nil || !sameEntry(again, e) {
			t.Fatalf("re-decoding %+v gave %+v, %v", e, again, err)
		}
	})
}
