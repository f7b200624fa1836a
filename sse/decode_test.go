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

// readers are the ways each stream of the conformance table is fed to the
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

// decodeCases is the conformance table, written from the WHATWG HTML
// Standard, 9.2.5 "Parsing an event stream" and 9.2.6 "Interpreting an event
// stream", and the Encoding Standard's UTF-8 decoder it relies on.
var decodeCases = []decodeCase{
	// "Streams must be decoded using the UTF-8 decode algorithm": one leading
	// BOM is stripped, invalid sequences become U+FFFD.
	{name: "empty_stream", in: ""},
	{name: "bom_stripped", in: "\uFEFFdata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "only_one_bom_stripped", in: "\uFEFF\uFEFFdata: a\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},
	{name: "bom_on_its_own_line", in: "\uFEFF\ndata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "bom_after_first_line_kept", in: "\n\uFEFFdata: a\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},
	{name: "bom_after_first_event_kept", in: "data: a\n\n\uFEFFdata: b\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "bom_in_value_kept", in: "data: \uFEFFa\n\n", want: []sse.Event{{Data: "\uFEFFa"}}},
	{name: "truncated_bom_is_invalid_utf8", in: "\xEF\xBBdata: a\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},
	{name: "valid_utf8", in: "data: héllo, 世界 😀\n\n", want: []sse.Event{{Data: "héllo, 世界 😀"}}},
	{name: "replacement_character_kept", in: "data: \uFFFD\n\n", want: []sse.Event{{Data: "\uFFFD"}}},
	{name: "truncated_sequence_then_ascii", in: "data: \xE2\x82A\n\n", want: []sse.Event{{Data: "\uFFFDA"}}},
	{name: "truncated_sequence_at_line_end", in: "data: \xF0\x9F\x98\ndata: \xE2\x82\rdata: \xC3\r\n\n",
		want: []sse.Event{{Data: "\uFFFD\n\uFFFD\n\uFFFD"}}},
	{name: "lone_continuation_bytes", in: "data: \x80\xBF\x80a\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFDa"}}},
	{name: "surrogate", in: "data: \xED\xA0\x80\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD"}}},
	{name: "overlong_two_bytes", in: "data: \xC0\xAF\xC1\xBF\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD\uFFFD"}}},
	{name: "overlong_three_bytes", in: "data: \xE0\x80\x80\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD"}}},
	{name: "overlong_four_bytes", in: "data: \xF0\x8F\xBF\xBF\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD\uFFFD"}}},
	{name: "above_max_code_point", in: "data: \xF4\x90\x80\x80\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD\uFFFD"}}},
	{name: "invalid_lead_bytes", in: "data: \xF5\xF8\xFE\xFF\n\n", want: []sse.Event{{Data: "\uFFFD\uFFFD\uFFFD\uFFFD"}}},
	{name: "lead_byte_then_lead_byte", in: "data: \xC2\xC2\xA9\xE2\xF0\x9F\x98\x80\n\n", want: []sse.Event{{Data: "\uFFFD©\uFFFD😀"}}},
	{name: "maximal_subpart_of_four_bytes", in: "data: \xF1\x80\x80a\n\n", want: []sse.Event{{Data: "\uFFFDa"}}},
	{name: "invalid_utf8_in_field_name", in: "dat\xE1: a\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},
	{name: "invalid_utf8_in_id_and_type", in: "id: \xFF1\nevent: \xC3\ndata: a\n\n",
		want: []sse.Event{{ID: "\uFFFD1", Type: "\uFFFD", Data: "a"}}, lastID: "\uFFFD1"},

	// "a U+000D CARRIAGE RETURN U+000A LINE FEED (CRLF) character pair, a
	// single U+000A LINE FEED (LF) character not preceded by a U+000D
	// CARRIAGE RETURN (CR) character, and a single U+000D CARRIAGE RETURN
	// (CR) character not followed by a U+000A LINE FEED (LF) character being
	// the ways in which a line can end."
	{name: "lf_line_ends", in: "data: a\ndata: b\n\n", want: []sse.Event{{Data: "a\nb"}}},
	{name: "cr_line_ends", in: "data: a\rdata: b\r\r", want: []sse.Event{{Data: "a\nb"}}},
	{name: "crlf_line_ends", in: "data: a\r\ndata: b\r\n\r\n", want: []sse.Event{{Data: "a\nb"}}},
	{name: "mixed_line_ends", in: "data: a\rdata: b\ndata: c\r\n\r\ndata: d\n\r\n\rdata: e\r\n\n",
		want: []sse.Event{{Data: "a\nb\nc"}, {Data: "d"}, {Data: "e"}}},
	{name: "lf_cr_is_two_line_ends", in: "data: a\n\rdata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "cr_cr_lf_is_two_line_ends", in: "data: a\r\r\ndata: b\r\r\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "cr_inside_a_value_ends_the_line", in: "data: a\rb: c\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "only_blank_lines", in: "\n\r\n\r\r\n\n"},
	{name: "crlf_split_by_empty_lines", in: "data: a\r\n\r\r\ndata: b\r\n\r\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},

	// "If the line contains a U+003A COLON character (:): Collect the
	// characters on the line before the first colon, and let field be that
	// string. Collect the characters on the line after the first colon, and
	// let value be that string. If value starts with a U+0020 SPACE
	// character, remove it from value."
	{name: "no_space_after_colon", in: "data:a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "one_space_removed", in: "data: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "only_one_space_removed", in: "data:  a \n\n", want: []sse.Event{{Data: " a "}}},
	{name: "tab_not_removed", in: "data:\ta\n\n", want: []sse.Event{{Data: "\ta"}}},
	{name: "value_holds_colons", in: "data: a: b:c\n\n", want: []sse.Event{{Data: "a: b:c"}}},
	{name: "value_of_one_space_is_empty", in: "data: \n\n", want: []sse.Event{{Data: ""}}},
	{name: "nul_in_data_kept", in: "data: a\x00b\n\n", want: []sse.Event{{Data: "a\x00b"}}},
	{name: "space_before_colon_makes_unknown_field", in: "data : a\n\n"},
	{name: "leading_space_makes_unknown_field", in: " data: a\n\n"},
	// "Otherwise, the string is not empty but does not contain a U+003A
	// COLON character (:): Process the field using the whole line as the
	// field name, and the empty string as the field value."
	{name: "data_without_colon_adds_empty_line", in: "data\n\n", want: []sse.Event{{Data: ""}}},
	{name: "data_without_colon_twice", in: "data\ndata\n\n", want: []sse.Event{{Data: "\n"}}},
	{name: "data_without_colon_between_lines", in: "data: a\ndata\ndata: b\n\n", want: []sse.Event{{Data: "a\n\nb"}}},
	// "If the line starts with a U+003A COLON character (:): Ignore the line."
	{name: "comment_ignored", in: ": hello\ndata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "comment_between_data_lines", in: "data: a\n:x\ndata: b\n\n", want: []sse.Event{{Data: "a\nb"}}},
	{name: "comment_alone_dispatches_nothing", in: ":\n\n: hello\n\n"},
	{name: "comment_looking_like_field", in: ":data: a\n\n"},
	// "Otherwise: The field is ignored." Field names are case-sensitive.
	{name: "unknown_field_ignored", in: "foo: bar\ndata: a\nbaz\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "wrong_case_data_ignored", in: "Data: a\n\nDATA: b\n\n"},
	{name: "wrong_case_fields_ignored", in: "ID: 1\nEvent: x\nRetry: 5\ndata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "unknown_field_alone_dispatches_nothing", in: "foo\n\n"},

	// "If the field name is "event": Set the event type buffer to field value."
	{name: "event_type", in: "event: add\ndata: a\n\n", want: []sse.Event{{Type: "add", Data: "a"}}},
	{name: "event_type_last_wins", in: "event: a\nevent: b\ndata: x\n\n", want: []sse.Event{{Type: "b", Data: "x"}}},
	{name: "event_type_after_data", in: "data: x\nevent: add\n\n", want: []sse.Event{{Type: "add", Data: "x"}}},
	{name: "event_type_empty_means_message", in: "event\ndata: a\n\nevent:\ndata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "event_type_keeps_spaces", in: "event:  add \ndata: a\n\n", want: []sse.Event{{Type: " add ", Data: "a"}}},
	{name: "event_type_reset_after_dispatch", in: "event: add\ndata: a\n\ndata: b\n\n",
		want: []sse.Event{{Type: "add", Data: "a"}, {Data: "b"}}},
	{name: "event_type_reset_by_block_without_data", in: "event: add\n\ndata: b\n\n", want: []sse.Event{{Data: "b"}}},

	// "If the field name is "id": If the field value does not contain U+0000
	// NULL, then set the last event ID buffer to the field value. Otherwise,
	// ignore the field."
	{name: "id", in: "id: 1\ndata: a\n\n", want: []sse.Event{{ID: "1", Data: "a"}}, lastID: "1"},
	{name: "id_after_data", in: "data: a\nid: 7\n\n", want: []sse.Event{{ID: "7", Data: "a"}}, lastID: "7"},
	{name: "id_last_wins", in: "id: 1\nid: 2\ndata: a\n\n", want: []sse.Event{{ID: "2", Data: "a"}}, lastID: "2"},
	{name: "id_keeps_spaces", in: "id:  x \ndata: a\n\n", want: []sse.Event{{ID: " x ", Data: "a"}}, lastID: " x "},
	{name: "id_kept_across_events", in: "id: 1\ndata: a\n\ndata: b\n\nevent: t\ndata: c\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}, {ID: "1", Type: "t", Data: "c"}}, lastID: "1"},
	{name: "id_changed", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {ID: "2", Data: "b"}}, lastID: "2"},
	{name: "id_without_colon_resets", in: "id: 1\ndata: a\n\nid\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {Data: "b"}}},
	{name: "id_empty_value_resets", in: "id: 1\ndata: a\n\nid:\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {Data: "b"}}},
	{name: "id_with_nul_ignored", in: "id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n",
		want: []sse.Event{{ID: "1", Data: "a"}, {ID: "1", Data: "b"}}, lastID: "1"},
	{name: "id_nul_only_ignored", in: "id: \x00\ndata: a\n\n", want: []sse.Event{{Data: "a"}}},
	{name: "id_with_trailing_nul_ignored_then_valid_id", in: "id: x\x00\nid: 2\ndata: a\n\nid: 3\nid: \x00\ndata: b\n\n",
		want: []sse.Event{{ID: "2", Data: "a"}, {ID: "3", Data: "b"}}, lastID: "3"},
	{name: "id_only_block_commits_id", in: "id: 5\n\n", lastID: "5"},
	{name: "id_only_block_then_event", in: "id: 5\n\ndata: a\n\n", want: []sse.Event{{ID: "5", Data: "a"}}, lastID: "5"},
	{name: "id_only_block_resets_id", in: "id: 5\ndata: a\n\nid\n\ndata: b\n\n",
		want: []sse.Event{{ID: "5", Data: "a"}, {Data: "b"}}},

	// "If the field name is "retry": If the field value consists of only
	// ASCII digits, then interpret the field value as an integer in base
	// ten, and set the event stream's reconnection time to that integer.
	// Otherwise, ignore the field."
	{name: "retry", in: "retry: 1000\n\n", retry: 1000 * ms, retrySet: true},
	{name: "retry_without_blank_line", in: "retry: 1000\n", retry: 1000 * ms, retrySet: true},
	{name: "retry_in_unterminated_line_ignored", in: "retry: 1000"},
	{name: "retry_zero", in: "retry: 0\n\n", retry: 0, retrySet: true},
	{name: "retry_leading_zeros", in: "retry:0010\n\n", retry: 10 * ms, retrySet: true},
	{name: "retry_last_wins", in: "retry: 1\nretry: 2\n\n", retry: 2 * ms, retrySet: true},
	{name: "retry_on_event", in: "retry: 500\ndata: a\n\ndata: b\n\n",
		want: []sse.Event{{Data: "a", Retry: 500 * ms}, {Data: "b"}}, retry: 500 * ms, retrySet: true},
	{name: "retry_in_block_without_data_not_on_next_event", in: "retry: 500\n\ndata: a\n\n",
		want: []sse.Event{{Data: "a"}}, retry: 500 * ms, retrySet: true},
	{name: "retry_largest_duration", in: "retry: 9223372036854\n\n", retry: 9223372036854 * ms, retrySet: true},
	{name: "retry_empty_ignored", in: "retry:\n\nretry\n\nretry: \n\n"},
	{name: "retry_with_letter_ignored", in: "retry: 12a\n\n"},
	{name: "retry_with_second_space_ignored", in: "retry:  12\n\n"},
	{name: "retry_with_trailing_space_ignored", in: "retry: 12 \n\n"},
	{name: "retry_negative_ignored", in: "retry: -1\n\n"},
	{name: "retry_plus_sign_ignored", in: "retry: +1\n\n"},
	{name: "retry_fraction_ignored", in: "retry: 1.5\n\n"},
	{name: "retry_exponent_ignored", in: "retry: 1e3\n\n"},
	{name: "retry_non_ascii_digits_ignored", in: "retry: ١٢\n\nretry: １２\n\n"},
	{name: "retry_overflow_ignored", in: "retry: 9223372036855\n\nretry: 99999999999999999999999\n\n"},
	{name: "retry_ignored_keeps_previous", in: "retry: 100\n\nretry: x\n\nretry: 99999999999999999999999\n\n",
		retry: 100 * ms, retrySet: true},

	// "If the line is empty (a blank line): Dispatch the event."
	{name: "blank_line_dispatches", in: "data: a\n\ndata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	{name: "many_blank_lines_dispatch_once", in: "data: a\n\n\n\n\ndata: b\n\n", want: []sse.Event{{Data: "a"}, {Data: "b"}}},
	// "If the data buffer's last character is a U+000A LINE FEED (LF)
	// character, then remove the last character from the data buffer."
	{name: "one_final_lf_removed", in: "data: a\ndata:\n\n", want: []sse.Event{{Data: "a\n"}}},
	{name: "two_empty_data_lines", in: "data:\ndata:\n\n", want: []sse.Event{{Data: "\n"}}},
	// "If the data buffer is an empty string, set the data buffer and the
	// event type buffer to the empty string and return."
	{name: "empty_data_value_dispatches", in: "data:\n\n", want: []sse.Event{{Data: ""}}},
	{name: "no_data_field_dispatches_nothing", in: "event: x\n\nid\n\nretry: x\n\n"},
	// "Once the end of the file is reached, any pending data must be
	// discarded. (If the file ends in the middle of an event, before the
	// final empty line, the incomplete event is not dispatched.)"
	{name: "unterminated_event_discarded", in: "data: a\n\ndata: b\n", want: []sse.Event{{Data: "a"}}},
	{name: "unterminated_line_discarded", in: "data: a\n\ndata: b", want: []sse.Event{{Data: "a"}}},
	{name: "unterminated_event_id_not_committed", in: "id: 1\ndata: a\n\nid: 2\ndata: b\n",
		want: []sse.Event{{ID: "1", Data: "a"}}, lastID: "1"},
	{name: "unterminated_id_only_block_not_committed", in: "id: 1\n\nid: 2\n", lastID: "1"},
	{name: "cr_at_end_of_stream_ends_the_line", in: "data: a\r\r", want: []sse.Event{{Data: "a"}}},
	{name: "stream_of_one_line_end", in: "\r"},

	// A maximum size (SetMaxSize) bounds a line and an event's data.
	{name: "line_at_max_size", maxSize: 16, in: "data: 0123456789\n\n", want: []sse.Event{{Data: "0123456789"}}},
	{name: "line_longer_than_max_size", maxSize: 16, in: "data: a\n\ndata: 0123456789a\n\ndata: b\n\n",
		want: []sse.Event{{Data: "a"}}, err: sse.ErrTooLarge},
	{name: "comment_longer_than_max_size", maxSize: 16, in: ": 0123456789abcdef\ndata: a\n\n", err: sse.ErrTooLarge},
	{name: "unterminated_line_longer_than_max_size", maxSize: 16, in: "data: 0123456789abcdef", err: sse.ErrTooLarge},
	{name: "crlf_not_counted_in_line", maxSize: 16, in: "data: 0123456789\r\n\r\n", want: []sse.Event{{Data: "0123456789"}}},
	{name: "data_at_max_size", maxSize: 16, in: "data: 0123456\ndata: 0123456\n\n", want: []sse.Event{{Data: "0123456\n0123456"}}},
	{name: "data_longer_than_max_size", maxSize: 16, in: "data: 0123456\ndata: 01234567\n\ndata: b\n\n", err: sse.ErrTooLarge},
	{name: "data_limit_per_event", maxSize: 16, in: "data: 0123456\ndata: 0123456\n\ndata: 0123456\ndata: 0123456\n\n",
		want: []sse.Event{{Data: "0123456\n0123456"}, {Data: "0123456\n0123456"}}},
}

func TestDecoder(t *testing.T) {
	for _, c := range decodeCases {
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
	for _, c := range decodeCases {
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
	for _, c := range decodeCases {
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
