package sse_test

import (
	"bytes"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
)

var update = flag.Bool("update", false, "rewrite golden files")

// encodeCases are the events whose wire form is kept in
// testdata/encode/<name>.golden.
var encodeCases = []struct {
	name string
	ev   sse.Event
}{
	{"plain_data", sse.Event{Data: "hello"}},
	{"json_data", sse.Event{Data: `{"count": 1, "time": 1700000000.5}`}},
	{"multiline_lf", sse.Event{Data: "first\nsecond\nthird"}},
	{"multiline_cr", sse.Event{Data: "first\rsecond"}},
	{"multiline_crlf", sse.Event{Data: "first\r\nsecond"}},
	{"multiline_mixed", sse.Event{Data: "a\r\nb\rc\nd\n\re"}},
	{"empty_data", sse.Event{}},
	{"trailing_newline", sse.Event{Data: "line\n"}},
	{"only_newline", sse.Event{Data: "\n"}},
	{"leading_space", sse.Event{Data: " indented\n  twice"}},
	{"data_looks_like_fields", sse.Event{Data: "data: x\n\nid: 1\n: comment"}},
	{"utf8", sse.Event{Data: "héllo, 世界 😀 \uFEFF"}},
	{"id", sse.Event{ID: "42", Data: "x"}},
	{"id_with_spaces", sse.Event{ID: " a b ", Data: "x"}},
	{"type", sse.Event{Type: "update", Data: "x"}},
	{"retry", sse.Event{Retry: 1500 * time.Millisecond, Data: "x"}},
	{"retry_truncated_to_ms", sse.Event{Retry: 2*time.Second + 999*time.Microsecond, Data: "x"}},
	{"all_fields", sse.Event{ID: "7", Type: "counter", Data: "{\"count\": 7}\n{\"more\": true}", Retry: 3 * time.Second}},
}

// commentCases are comments and retry hints, kept the same way.
var commentCases = []struct {
	name string
	b    []byte
}{
	{"comment", sse.AppendComment(nil, "keep-alive")},
	{"comment_empty", sse.AppendComment(nil, "")},
	{"comment_multiline", sse.AppendComment(nil, "one\ntwo\r\nthree\rfour")},
	{"comment_trailing_newline", sse.AppendComment(nil, "bye\n")},
	{"retry_only", sse.AppendRetry(nil, 2500*time.Millisecond)},
	{"retry_negative_is_zero", sse.AppendRetry(nil, -time.Second)},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", "encode", name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./sse -run Golden -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("wire bytes = %q, want %q (from %s; run go test ./sse -run Golden -update and review the diff)", got, want, path)
	}
}

func TestEncodeGolden(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			got, err := sse.AppendEvent(nil, c.ev)
			if err != nil {
				t.Fatalf("AppendEvent(nil, %q) = %v", c.ev, err)
			}
			golden(t, c.name, got)

			// The bytes must mean the event to a receiver.
			want := c.ev
			want.Data = normalizeLineEnds(want.Data)
			want.Retry = want.Retry.Truncate(time.Millisecond)
			d := sse.NewDecoder(bytes.NewReader(got))
			if ev, err := d.Next(); ev != want || err != nil {
				t.Errorf("Decode(%q) = %q, %v; want %q, nil", got, ev, err, want)
			}

			// WriteTo and MarshalText write the same bytes.
			var buf bytes.Buffer
			if n, err := c.ev.WriteTo(&buf); err != nil || n != int64(len(got)) || !bytes.Equal(buf.Bytes(), got) {
				t.Errorf("WriteTo(%q) = %d, %v, wrote %q; want %d, nil, wrote %q", c.ev, n, err, buf.Bytes(), len(got), got)
			}
			if text, err := c.ev.MarshalText(); err != nil || !bytes.Equal(text, got) {
				t.Errorf("MarshalText(%q) = %q, %v; want %q, nil", c.ev, text, err, got)
			}
		})
	}
	for _, c := range commentCases {
		t.Run(c.name, func(t *testing.T) {
			golden(t, c.name, c.b)
			// Comments and retry hints dispatch nothing.
			d := sse.NewDecoder(bytes.NewReader(c.b))
			if ev, err := d.Next(); err != io.EOF {
				t.Errorf("Decode(%q) = %q, %v; want io.EOF", c.b, ev, err)
			}
		})
	}
}

func TestAppendEventAppends(t *testing.T) {
	dst := []byte("data: before\n\n")
	got, err := sse.AppendEvent(dst, sse.Event{ID: "1", Data: "after"})
	if want := "data: before\n\nid: 1\ndata: after\n\n"; string(got) != want || err != nil {
		t.Errorf("AppendEvent(%q, ...) = %q, %v; want %q, nil", dst, got, err, want)
	}
	if got := sse.AppendComment([]byte("x"), "c"); string(got) != "x: c\n" {
		t.Errorf("AppendComment(%q, %q) = %q, want %q", "x", "c", got, "x: c\n")
	}
	if got := sse.AppendRetry([]byte("x"), time.Second); string(got) != "xretry: 1000\n\n" {
		t.Errorf("AppendRetry(%q, 1s) = %q, want %q", "x", got, "xretry: 1000\n\n")
	}
}

func TestAppendEventInvalid(t *testing.T) {
	tests := []struct {
		name string
		ev   sse.Event
		err  error
	}{
		{"id_with_lf", sse.Event{ID: "1\n2", Data: "x"}, sse.ErrInvalidID},
		{"id_with_cr", sse.Event{ID: "1\r2", Data: "x"}, sse.ErrInvalidID},
		{"id_with_crlf", sse.Event{ID: "1\r\n", Data: "x"}, sse.ErrInvalidID},
		{"id_with_nul", sse.Event{ID: "1\x002", Data: "x"}, sse.ErrInvalidID},
		{"id_only_nul", sse.Event{ID: "\x00"}, sse.ErrInvalidID},
		{"type_with_lf", sse.Event{Type: "a\nb", Data: "x"}, sse.ErrInvalidType},
		{"type_with_cr", sse.Event{Type: "a\r", Data: "x"}, sse.ErrInvalidType},
		{"negative_retry", sse.Event{Retry: -time.Millisecond, Data: "x"}, sse.ErrInvalidRetry},
		{"negative_retry_below_ms", sse.Event{Retry: -1}, sse.ErrInvalidRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.ev.Validate(); !errors.Is(err, tt.err) {
				t.Errorf("Validate(%q) = %v, want %v", tt.ev, err, tt.err)
			}
			dst := make([]byte, len("prefix"), 64)
			copy(dst, "prefix")
			got, err := sse.AppendEvent(dst, tt.ev)
			if !errors.Is(err, tt.err) {
				t.Errorf("AppendEvent(%q) error = %v, want %v", tt.ev, err, tt.err)
			}
			if string(got) != "prefix" || len(got) != len(dst) || &got[0] != &dst[0] {
				t.Errorf("AppendEvent(%q, %q) = %q, want dst unchanged", "prefix", tt.ev, got)
			}
			if spare := dst[len(dst):cap(dst)]; bytes.ContainsFunc(spare, func(r rune) bool { return r != 0 }) {
				t.Errorf("AppendEvent(%q) wrote %q past len(dst)", tt.ev, bytes.TrimRight(spare, "\x00"))
			}
			if text, err := tt.ev.MarshalText(); text != nil || !errors.Is(err, tt.err) {
				t.Errorf("MarshalText(%q) = %q, %v; want nil, %v", tt.ev, text, err, tt.err)
			}
			var buf bytes.Buffer
			if n, err := tt.ev.WriteTo(&buf); n != 0 || buf.Len() != 0 || !errors.Is(err, tt.err) {
				t.Errorf("WriteTo(%q) = %d, %v, wrote %q; want 0, %v, nothing", tt.ev, n, err, buf.Bytes(), tt.err)
			}
		})
	}
}

// TestAppendEventID checks that AppendEventID writes, for every golden
// event, the bytes AppendEvent writes, taking the ID from its argument and
// never from the event.
func TestAppendEventID(t *testing.T) {
	for _, c := range encodeCases {
		t.Run(c.name, func(t *testing.T) {
			want, err := sse.AppendEvent([]byte("prefix"), c.ev)
			if err != nil {
				t.Fatal(err)
			}
			ev := c.ev
			ev.ID = "not this one"
			got, err := sse.AppendEventID([]byte("prefix"), []byte(c.ev.ID), ev)
			if !bytes.Equal(got, want) || err != nil {
				t.Errorf("AppendEventID(%q, %q, %q) = %q, %v; want %q, nil", "prefix", c.ev.ID, ev, got, err, want)
			}
		})
	}
}

// TestAppendEventIDInvalid names the bad inputs AppendEventID refuses,
// leaving dst as it was: an ID with LF, CR, CRLF or NUL, and an event
// whose type or retry is invalid (its own ID field, however bad, is
// ignored).
func TestAppendEventIDInvalid(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ev   sse.Event
		err  error
	}{
		{"id_with_lf", "1\n2", sse.Event{Data: "x"}, sse.ErrInvalidID},
		{"id_with_cr", "1\r2", sse.Event{Data: "x"}, sse.ErrInvalidID},
		{"id_with_crlf", "1\r\n", sse.Event{Data: "x"}, sse.ErrInvalidID},
		{"id_with_nul", "1\x002", sse.Event{Data: "x"}, sse.ErrInvalidID},
		{"type_with_lf", "1", sse.Event{Type: "a\nb", Data: "x"}, sse.ErrInvalidType},
		{"negative_retry", "1", sse.Event{Retry: -time.Millisecond}, sse.ErrInvalidRetry},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := make([]byte, len("prefix"), 64)
			copy(dst, "prefix")
			got, err := sse.AppendEventID(dst, []byte(tt.id), tt.ev)
			if !errors.Is(err, tt.err) {
				t.Errorf("AppendEventID(%q, %q) error = %v, want %v", tt.id, tt.ev, err, tt.err)
			}
			if string(got) != "prefix" || &got[0] != &dst[0] || bytes.ContainsFunc(dst[len(dst):cap(dst)], func(r rune) bool { return r != 0 }) {
				t.Errorf("AppendEventID(%q, %q, %q) = %q, want dst unchanged", "prefix", tt.id, tt.ev, got)
			}
		})
	}
	if got, err := sse.AppendEventID(nil, []byte("7"), sse.Event{ID: "bad\nid", Data: "x"}); string(got) != "id: 7\ndata: x\n\n" || err != nil {
		t.Errorf("AppendEventID(nil, 7, an event with a bad ID) = %q, %v; want its ID ignored", got, err)
	}
}

func TestValidateAccepts(t *testing.T) {
	for _, ev := range []sse.Event{
		{},
		{ID: "id with spaces and : colons", Type: "type\x00with NUL", Data: "\r\n\x00any data"},
		{ID: "\uFEFF😀", Type: "é", Retry: time.Nanosecond},
	} {
		if err := ev.Validate(); err != nil {
			t.Errorf("Validate(%q) = %v, want nil", ev, err)
		}
	}
}

// allocEvents are encoded without allocating when the buffer has room.
var allocEvents = []sse.Event{
	{Data: "hello"},
	{ID: "12345", Type: "update", Data: `{"count": 1}`, Retry: 3 * time.Second},
	{Data: "multi\nline\r\ndata\rhere\n"},
	{},
}

func TestAppendEventDoesNotAllocate(t *testing.T) {
	buf := make([]byte, 0, 4096)
	for _, ev := range allocEvents {
		if n := testing.AllocsPerRun(100, func() {
			buf, _ = sse.AppendEvent(buf[:0], ev)
		}); n != 0 {
			t.Errorf("AppendEvent(buf with room, %q) made %v allocations, want 0", ev, n)
		}
	}
	for _, ev := range allocEvents {
		if n := testing.AllocsPerRun(100, func() {
			var idBuf [24]byte // on the stack, as the hub's
			id := strconv.AppendUint(idBuf[:0], 1700000000123, 10)
			buf, _ = sse.AppendEventID(buf[:0], id, ev)
		}); n != 0 {
			t.Errorf("AppendEventID(buf with room, an ID on the stack, %q) made %v allocations, want 0", ev, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() {
		buf = sse.AppendComment(buf[:0], "keep\nalive")
		buf = sse.AppendRetry(buf, 5*time.Second)
	}); n != 0 {
		t.Errorf("AppendComment and AppendRetry with room made %v allocations, want 0", n)
	}
}

func BenchmarkAppendEvent(b *testing.B) {
	benchmarks := []struct {
		name string
		ev   sse.Event
	}{
		{"data", sse.Event{Data: `{"count": 42, "time": 1700000000.123}`}},
		{"all_fields", sse.Event{ID: "1700000000000-0", Type: "counter", Data: `{"count": 42}`, Retry: 3 * time.Second}},
		{"multiline", sse.Event{Data: strings.Repeat("a line of text\n", 16)}},
		{"1KiB", sse.Event{ID: "1", Data: strings.Repeat("x", 1024)}},
	}
	for _, bm := range benchmarks {
		b.Run(bm.name, func(b *testing.B) {
			buf := make([]byte, 0, 4096)
			encoded, err := sse.AppendEvent(buf, bm.ev)
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(encoded)))
			b.ReportAllocs()
			for b.Loop() {
				buf, _ = sse.AppendEvent(buf[:0], bm.ev)
			}
		})
	}
}

// BenchmarkAppendEventID encodes an event with an ID formatted into a
// buffer on the stack, as the hub does for every event it sends.
func BenchmarkAppendEventID(b *testing.B) {
	ev := sse.Event{Type: "counter", Data: `{"count": 42}`}
	buf := make([]byte, 0, 4096)
	b.ReportAllocs()
	for b.Loop() {
		var idBuf [48]byte
		id := strconv.AppendUint(idBuf[:0], 1700000000000, 10)
		id = append(id, '-')
		id = strconv.AppendUint(id, 7, 10)
		buf, _ = sse.AppendEventID(buf[:0], id, ev)
	}
	b.SetBytes(int64(len(buf)))
}
