package sse_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"
	"unicode/utf8"

	"github.com/heraldsse/herald/sse"
)

// result is everything a stream leaves behind in a Decoder.
type result struct {
	events   []sse.Event
	lastID   string
	retry    time.Duration
	retrySet bool
	err      error // the error that ended the stream; nil for io.EOF
}

func (r result) String() string {
	retry := "unset"
	if r.retrySet {
		retry = r.retry.String()
	}
	return fmt.Sprintf("events %q, LastEventID %q, Retry %s, err %v", r.events, r.lastID, retry, r.err)
}

// equal reports whether r matches want: the same events and state, and an
// error that is want's (errors.Is) or reads the same.
func (r result) equal(want result) bool {
	sameErr := errors.Is(r.err, want.err) || r.err != nil && want.err != nil && r.err.Error() == want.err.Error()
	return slices.Equal(r.events, want.events) && r.lastID == want.lastID &&
		r.retry == want.retry && r.retrySet == want.retrySet && sameErr
}

// decodeAll reads r to its end with a Decoder whose maximum size is maxSize
// (0 for the default).
func decodeAll(t testing.TB, r io.Reader, maxSize int) result {
	t.Helper()
	d := sse.NewDecoder(r)
	if maxSize > 0 {
		d.SetMaxSize(maxSize)
	}
	var res result
	for range 1 << 20 {
		ev, err := d.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			if ev != (sse.Event{}) {
				t.Errorf("Next() = %q, %v; want the zero Event with an error", ev, err)
			}
			if _, again := d.Next(); !errors.Is(again, err) {
				t.Errorf("Next() after %v = %v, want the same error again", err, again)
			}
			res.lastID = d.LastEventID()
			res.retry, res.retrySet = d.Retry()
			return res
		}
		res.events = append(res.events, ev)
	}
	t.Fatalf("Decoder did not reach the end of the stream after 1<<20 events")
	return res
}

// splitReader returns its parts one per Read (as much of a part as fits).
type splitReader struct{ parts [][]byte }

func (r *splitReader) Read(p []byte) (int, error) {
	for len(r.parts) > 0 && len(r.parts[0]) == 0 {
		r.parts = r.parts[1:]
	}
	if len(r.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.parts[0])
	r.parts[0] = r.parts[0][n:]
	return n, nil
}

// splitAt returns a reader whose first Read gives the first k bytes of s and
// whose next gives the rest.
func splitAt(s string, k int) io.Reader {
	return &splitReader{parts: [][]byte{[]byte(s[:k]), []byte(s[k:])}}
}

// readers are the ways each stream of the conformance vectors is fed to the
// Decoder; each must give the same result.
var readers = []struct {
	name string
	new  func(string) io.Reader
}{
	{"whole", func(s string) io.Reader { return strings.NewReader(s) }},
	{"one_byte_at_a_time", func(s string) io.Reader { return iotest.OneByteReader(strings.NewReader(s)) }},
	{"half_reads", func(s string) io.Reader { return iotest.HalfReader(strings.NewReader(s)) }},
	{"eof_with_last_data", func(s string) io.Reader { return iotest.DataErrReader(strings.NewReader(s)) }},
	{"one_byte_eof_with_last_data", func(s string) io.Reader {
		return iotest.DataErrReader(iotest.OneByteReader(strings.NewReader(s)))
	}},
}

// decodeCase is one conformance vector, as loadDecodeCases reads it from
// testdata/spec.
type decodeCase struct {
	name     string
	in       string
	maxSize  int // 0: the default
	want     []sse.Event
	lastID   string
	retry    time.Duration
	retrySet bool
	err      error // the error after the events; nil for io.EOF
}

func (c decodeCase) result() result {
	return result{events: c.want, lastID: c.lastID, retry: c.retry, retrySet: c.retrySet, err: c.err}
}

const ms = time.Millisecond

// TestDecoder runs the conformance vectors of testdata/spec through the
// Decoder, fed whole, a byte at a time, in halves, with io.EOF on the last
// data, and split into two reads at every position.
func TestDecoder(t *testing.T) {
	for _, c := range loadDecodeCases(t) {
		t.Run(c.name, func(t *testing.T) {
			want := c.result()
			for _, r := range readers {
				if got := decodeAll(t, r.new(c.in), c.maxSize); !got.equal(want) {
					t.Errorf("Decode(%q) reading %s = %v, want %v", c.in, r.name, got, want)
				}
			}
			// Every split of the stream into two reads, so that a CR that
			// ends one read meets its LF at the start of the next. The
			// first failure is enough.
			for k := 1; k < len(c.in); k++ {
				if got := decodeAll(t, splitAt(c.in, k), c.maxSize); !got.equal(want) {
					t.Errorf("Decode(%q) split into reads %q and %q = %v, want %v", c.in, c.in[:k], c.in[k:], got, want)
					break
				}
			}
		})
	}
}

// TestDecoderTableMatchesSpec checks the conformance table against the
// standard's algorithm transcribed in whatwg_test.go, so that each is a
// check on the other.
func TestDecoderTableMatchesSpec(t *testing.T) {
	for _, c := range loadDecodeCases(t) {
		if c.err != nil {
			continue // the maximum size is the Decoder's, not the standard's
		}
		t.Run(c.name, func(t *testing.T) {
			s := specDecode([]byte(c.in))
			got := result{events: s.events, lastID: s.lastID, retry: s.retry, retrySet: s.retrySet}
			if want := c.result(); !got.equal(want) {
				t.Errorf("specDecode(%q) = %v, want %v", c.in, got, want)
			}
		})
	}
}

func TestDecoderCRLFAcrossReads(t *testing.T) {
	// A CR ends a read; the LF that completes it starts the next one, which
	// must not count as a second (blank) line, and the event must come out
	// as soon as its blank line is complete, without waiting for more input.
	r := &splitReader{parts: [][]byte{
		[]byte("data: a\r"), []byte("\ndata: b\r"), []byte("\n\r"), []byte("\nid: 1\r"), []byte("\n"),
	}}
	d := sse.NewDecoder(r)
	ev, err := d.Next()
	if want := (sse.Event{Data: "a\nb"}); ev != want || err != nil {
		t.Fatalf("Next() = %q, %v; want %q, nil", ev, err, want)
	}
	if left := slices.DeleteFunc(slices.Clone(r.parts), func(p []byte) bool { return len(p) == 0 }); len(left) != 2 {
		t.Errorf("Next() read ahead past its event: %q left unread, want 2 reads", left)
	}
	if ev, err := d.Next(); err != io.EOF {
		t.Errorf("Next() = %q, %v; want io.EOF", ev, err)
	}
	if got := d.LastEventID(); got != "" {
		t.Errorf("LastEventID() = %q, want %q (its block was not closed)", got, "")
	}
}

func TestDecoderDefaultMaxSize(t *testing.T) {
	long := "data: " + strings.Repeat("x", sse.DefaultMaxSize) + "\n\n"
	tests := []struct {
		name     string
		in       string
		maxSizes []int // SetMaxSize calls, in order
		err      error
	}{
		{name: "default_limit", in: long, err: sse.ErrTooLarge},
		{name: "zero_restores_default", in: long, maxSizes: []int{64, 0}, err: sse.ErrTooLarge},
		{name: "negative_restores_default", in: long, maxSizes: []int{4 * sse.DefaultMaxSize, -1}, err: sse.ErrTooLarge},
		{name: "line_at_default_limit", in: long[len("data: "):]},
		{name: "raised_limit", in: long, maxSizes: []int{2 * sse.DefaultMaxSize}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := sse.NewDecoder(strings.NewReader(tt.in))
			for _, n := range tt.maxSizes {
				d.SetMaxSize(n)
			}
			var err error
			for err == nil {
				_, err = d.Next()
			}
			if tt.err == nil && err != io.EOF || tt.err != nil && !errors.Is(err, tt.err) {
				t.Errorf("Decode(%d-byte line) after SetMaxSize%v: Next() = %v, want %v", len(tt.in), tt.maxSizes, err, tt.err)
			}
		})
	}
}

// errReader gives its data together with a read error, then fails the test
// if it is read again: callers must process the n > 0 bytes Read returned
// before they consider the error, and then stop.
type errReader struct {
	t    *testing.T
	data []byte
	err  error
	done bool
}

func (r *errReader) Read(p []byte) (int, error) {
	if r.done {
		r.t.Errorf("Read called again after it returned %v", r.err)
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	if len(r.data) == 0 {
		r.done = true
		return n, r.err
	}
	return n, nil
}

func TestDecoderReadError(t *testing.T) {
	errBroken := errors.New("connection broken")
	tests := []struct {
		name string
		r    func(t *testing.T) io.Reader
		want result
	}{
		{
			name: "error_with_last_data",
			r: func(t *testing.T) io.Reader {
				return &errReader{t: t, data: []byte("data: a\n\ndata: b\n\ndata: c\n"), err: errBroken}
			},
			want: result{events: []sse.Event{{Data: "a"}, {Data: "b"}}, err: errBroken},
		},
		{
			name: "error_after_data",
			r: func(t *testing.T) io.Reader {
				return io.MultiReader(strings.NewReader("id: 1\ndata: a\n\n"), iotest.ErrReader(errBroken))
			},
			want: result{events: []sse.Event{{ID: "1", Data: "a"}}, lastID: "1", err: errBroken},
		},
		{
			name: "timeout_error",
			r: func(t *testing.T) io.Reader {
				return iotest.TimeoutReader(strings.NewReader("data: a\n\n"))
			},
			want: result{events: []sse.Event{{Data: "a"}}, err: iotest.ErrTimeout},
		},
		{
			name: "no_progress",
			r:    func(t *testing.T) io.Reader { return zeroReader{} },
			want: result{err: io.ErrNoProgress},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := decodeAll(t, tt.r(t), 0); !got.equal(tt.want) {
				t.Errorf("Decode(%s) = %v, want %v", tt.name, got, tt.want)
			}
		})
	}
}

// zeroReader returns 0, nil forever.
type zeroReader struct{}

func (zeroReader) Read([]byte) (int, error) { return 0, nil }

// randomText returns up to n runes drawn so that the characters that matter
// to the wire format (CR, LF, CRLF, colon, space, NUL, BOM) come up often,
// with the rest from all of Unicode. allowed filters the runes.
func randomText(rng *rand.Rand, n int, allowed func(rune) bool) string {
	special := []string{"\r", "\n", "\r\n", ":", " ", "\x00", "\uFEFF", "\uFFFD", "\u2028", "é", "😀", "a", "data: "}
	var b strings.Builder
	for range rng.IntN(n + 1) {
		var s string
		switch rng.IntN(4) {
		case 0:
			s = special[rng.IntN(len(special))]
		case 1:
			s = string(rune(' ' + rng.IntN(0x7F-' ')))
		default:
			r := rune(rng.IntN(utf8.MaxRune + 1))
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			s = string(r)
		}
		if strings.IndexFunc(s, func(r rune) bool { return !allowed(r) }) < 0 {
			b.WriteString(s)
		}
	}
	return b.String()
}

func noCRLFNUL(r rune) bool { return r != '\r' && r != '\n' && r != 0 }
func noCRLF(r rune) bool    { return r != '\r' && r != '\n' }
func anyRune(rune) bool     { return true }

// normalizeLineEnds turns CRLF and CR into LF, as a receiver sees data.
func normalizeLineEnds(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// TestRoundTrip encodes random events with AppendEvent into one stream and
// decodes them: each comes back with its data's line ends turned into LF,
// and an event without an ID carries the stream's last one.
func TestRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		var (
			stream []byte
			sent   []sse.Event
			want   []sse.Event
			lastID string
		)
		for range 1 + rng.IntN(20) {
			ev := sse.Event{Data: randomText(rng, 40, anyRune)}
			if rng.IntN(2) == 0 {
				ev.ID = randomText(rng, 10, noCRLFNUL)
			}
			if rng.IntN(2) == 0 {
				ev.Type = randomText(rng, 10, noCRLF)
			}
			if rng.IntN(3) == 0 {
				ev.Retry = time.Duration(rng.Int64N(1<<40)) * time.Millisecond
			}
			var err error
			stream, err = sse.AppendEvent(stream, ev)
			if err != nil {
				t.Fatalf("AppendEvent(%q) = %v", ev, err)
			}
			if ev.ID != "" {
				lastID = ev.ID
			}
			sent = append(sent, ev)
			want = append(want, sse.Event{ID: lastID, Type: ev.Type, Data: normalizeLineEnds(ev.Data), Retry: ev.Retry})
		}
		got := decodeAll(t, bytes.NewReader(stream), 0)
		if !slices.Equal(got.events, want) || got.err != nil || got.lastID != lastID {
			t.Fatalf("stream %d: Decode(AppendEvent(%q)) = %v, want events %q, LastEventID %q", i, sent, got, want, lastID)
		}
	}
}

// TestDecoderSetLastEventID checks that a seeded last event ID is what
// events without an "id" field report, until the stream sets another, and
// that a seed the stream could not have set is refused. Bad seeds tried:
// LF, CR, CRLF and NUL in the ID.
func TestDecoderSetLastEventID(t *testing.T) {
	tests := []struct {
		name   string
		seed   string
		in     string
		want   []sse.Event
		lastID string
	}{
		{name: "reported_by_events_without_id", seed: "41", in: "data: a\n\ndata: b\n\n",
			want: []sse.Event{{ID: "41", Data: "a"}, {ID: "41", Data: "b"}}, lastID: "41"},
		{name: "replaced_by_the_stream", seed: "41", in: "data: a\n\nid: 42\ndata: b\n\n",
			want: []sse.Event{{ID: "41", Data: "a"}, {ID: "42", Data: "b"}}, lastID: "42"},
		{name: "reset_by_an_empty_id", seed: "41", in: "id\ndata: a\n\n",
			want: []sse.Event{{Data: "a"}}, lastID: ""},
		{name: "kept_when_no_event_is_dispatched", seed: "41", in: "data: cut off", lastID: "41"},
		{name: "kept_by_an_id_with_nul", seed: "41", in: "id: 4\x002\ndata: a\n\n",
			want: []sse.Event{{ID: "41", Data: "a"}}, lastID: "41"},
		{name: "bom_still_stripped", seed: "41", in: "\uFEFFdata: a\n\n",
			want: []sse.Event{{ID: "41", Data: "a"}}, lastID: "41"},
		{name: "empty_seed", seed: "", in: "data: a\n\n", want: []sse.Event{{Data: "a"}}},
	}
	for _, tt := range tests {
		for _, rd := range readers {
			t.Run(tt.name+"/"+rd.name, func(t *testing.T) {
				d := sse.NewDecoder(rd.new(tt.in))
				if err := d.SetLastEventID(tt.seed); err != nil {
					t.Fatalf("SetLastEventID(%q) = %v", tt.seed, err)
				}
				if got := d.LastEventID(); got != tt.seed {
					t.Errorf("LastEventID() after SetLastEventID(%q) = %q", tt.seed, got)
				}
				var got []sse.Event
				for {
					ev, err := d.Next()
					if err != nil {
						if err != io.EOF {
							t.Fatalf("Next() = %v", err)
						}
						break
					}
					got = append(got, ev)
				}
				if !slices.Equal(got, tt.want) || d.LastEventID() != tt.lastID {
					t.Errorf("Decode(%q) seeded with %q = %q, LastEventID %q; want %q, %q", tt.in, tt.seed, got, d.LastEventID(), tt.want, tt.lastID)
				}
			})
		}
	}
	for _, bad := range []string{"4\n2", "4\r2", "42\r\n", "4\x002"} {
		d := sse.NewDecoder(strings.NewReader("data: a\n\n"))
		_ = d.SetLastEventID("7")
		if err := d.SetLastEventID(bad); !errors.Is(err, sse.ErrInvalidID) {
			t.Errorf("SetLastEventID(%q) = %v, want ErrInvalidID", bad, err)
		}
		if ev, err := d.Next(); ev.ID != "7" || err != nil {
			t.Errorf("after SetLastEventID(%q) failed: Next() = %q, %v; want the ID 7 kept", bad, ev, err)
		}
	}
}

// FuzzDecoder checks that the Decoder never panics or loops, that what it
// returns could have come from a browser (valid UTF-8, IDs without NUL, no
// CR anywhere, the same result however the input is split into reads), and
// that it agrees with the standard's algorithm transcribed in whatwg_test.go.
func FuzzDecoder(f *testing.F) {
	for _, c := range loadDecodeCases(f) {
		f.Add([]byte(c.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got := decodeAll(t, bytes.NewReader(in), 0)
		if got.err != nil && !errors.Is(got.err, sse.ErrTooLarge) {
			t.Fatalf("Decode(%q) = %v, want no error but ErrTooLarge", in, got)
		}
		for _, ev := range got.events {
			for field, s := range map[string]string{"ID": ev.ID, "Type": ev.Type, "Data": ev.Data} {
				if !utf8.ValidString(s) {
					t.Errorf("Decode(%q): event %s %q is not valid UTF-8", in, field, s)
				}
				if strings.Contains(s, "\r") {
					t.Errorf("Decode(%q): event %s %q holds CR", in, field, s)
				}
			}
			if strings.ContainsAny(ev.ID, "\n\x00") || strings.Contains(ev.Type, "\n") {
				t.Errorf("Decode(%q) gave event %q, whose ID or Type holds LF or NUL", in, ev)
			}
			if ev.Retry < 0 {
				t.Errorf("Decode(%q) gave event %q with a negative Retry", in, ev)
			}
		}
		if !utf8.ValidString(got.lastID) || strings.ContainsAny(got.lastID, "\r\n\x00") {
			t.Errorf("Decode(%q): LastEventID() = %q, want valid UTF-8 without CR, LF, NUL", in, got.lastID)
		}

		if one := decodeAll(t, iotest.OneByteReader(bytes.NewReader(in)), 0); !one.equal(got) {
			t.Errorf("Decode(%q) one byte at a time = %v, want %v", in, one, got)
		}
		if k := len(in) / 2; k > 0 {
			if split := decodeAll(t, splitAt(string(in), k), 0); !split.equal(got) {
				t.Errorf("Decode(%q) split at %d = %v, want %v", in, k, split, got)
			}
		}

		if got.err == nil {
			s := specDecode(in)
			want := result{events: s.events, lastID: s.lastID, retry: s.retry, retrySet: s.retrySet}
			if !got.equal(want) {
				t.Errorf("Decode(%q) = %v, want (by the standard's algorithm) %v", in, got, want)
			}
		}

		// A smaller maximum size ends the stream sooner, never differently.
		small := decodeAll(t, bytes.NewReader(in), 16)
		if small.err != nil && !errors.Is(small.err, sse.ErrTooLarge) {
			t.Errorf("Decode(%q) with SetMaxSize(16) = %v, want no error but ErrTooLarge", in, small)
		}
		if len(small.events) > len(got.events) || !slices.Equal(small.events, got.events[:len(small.events)]) {
			t.Errorf("Decode(%q) with SetMaxSize(16) = %v, want a prefix of %v", in, small, got)
		}
		if small.err == nil && !small.equal(got) {
			t.Errorf("Decode(%q) with SetMaxSize(16) = %v, want %v", in, small, got)
		}
	})
}

// FuzzRoundTrip encodes any valid event and decodes it: the decoder gives it
// back, with data line ends turned into LF, invalid UTF-8 replaced as the
// Encoding Standard's UTF-8 decoder does, and Retry in whole milliseconds.
func FuzzRoundTrip(f *testing.F) {
	f.Add("", "", "", int64(0))
	f.Add("42", "update", "hello", int64(1500*time.Millisecond))
	f.Add(" spaced ", " t ", " a\r\nb\rc\nd ", int64(time.Millisecond-1))
	f.Add("\uFEFF", "\x00", "\n", int64(-1))
	f.Add("id", "", "\xE2\x82A\xED\xA0\x80\r\n\xF0\x9F", int64(1<<62))
	f.Add("é", "😀", "data: x\n\nid: 3\n\n", int64(time.Hour))
	f.Fuzz(func(t *testing.T, id, typ, data string, retry int64) {
		ev := sse.Event{ID: id, Type: typ, Data: data, Retry: time.Duration(retry)}
		b, err := sse.AppendEvent(nil, ev)
		if err != nil {
			if ev.Validate() == nil {
				t.Fatalf("AppendEvent(%q) = %v, but Validate() = nil", ev, err)
			}
			if b != nil {
				t.Fatalf("AppendEvent(nil, %q) = %q, %v; want nil, %v", ev, b, err, err)
			}
			if byID, idErr := sse.AppendEventID(nil, []byte(id), ev); idErr == nil || byID != nil {
				t.Fatalf("AppendEventID(nil, %q, %q) = %q, %v; want nil and an error, as AppendEvent's %v", id, ev, byID, idErr, err)
			}
			return
		}
		d := sse.NewDecoder(bytes.NewReader(b))
		got, err := d.Next()
		want := sse.Event{
			ID:    whatwgUTF8Decoder([]byte(id)),
			Type:  whatwgUTF8Decoder([]byte(typ)),
			Data:  normalizeLineEnds(whatwgUTF8Decoder([]byte(data))),
			Retry: ev.Retry.Truncate(time.Millisecond),
		}
		if got != want || err != nil {
			t.Fatalf("Decode(AppendEvent(%q)) = %q, %v; want %q, nil (wire %q)", ev, got, err, want, b)
		}
		if extra, err := d.Next(); err != io.EOF {
			t.Fatalf("Decode(AppendEvent(%q)) gave a second event %q, %v; want io.EOF (wire %q)", ev, extra, err, b)
		}
		if r, ok := d.Retry(); r != want.Retry || ok != (ev.Retry > 0) {
			t.Errorf("Decode(AppendEvent(%q)): Retry() = %v, %v; want %v, %v", ev, r, ok, want.Retry, ev.Retry > 0)
		}

		// AppendEventID writes the same bytes, whatever e.ID holds.
		other := ev
		other.ID = "ignored\n"
		if byID, err := sse.AppendEventID(nil, []byte(id), other); !bytes.Equal(byID, b) || err != nil {
			t.Errorf("AppendEventID(nil, %q, %q) = %q, %v; want AppendEvent's %q", id, other, byID, err, b)
		}
	})
}

func BenchmarkDecoder(b *testing.B) {
	var stream []byte
	for i := range 1000 {
		ev := sse.Event{ID: strconv.Itoa(i), Type: "update", Data: `{"count": ` + strconv.Itoa(i) + `, "status": "running"}`}
		stream, _ = sse.AppendEvent(stream, ev)
		if i%10 == 0 {
			stream = sse.AppendComment(stream, "")
		}
	}
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var r bytes.Reader
	for b.Loop() {
		r.Reset(stream)
		d := sse.NewDecoder(&r)
		n := 0
		for {
			if _, err := d.Next(); err != nil {
				if err != io.EOF {
					b.Fatal(err)
				}
				break
			}
			n++
		}
		if n != 1000 {
			b.Fatalf("decoded %d events, want 1000", n)
		}
	}
}
