package sse_test

import (
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldsse/herald/sse"
)

// This file holds a second, deliberately naive reading of the standards the
// Decoder implements, transcribed step by step from their text with no
// attention to speed: the WHATWG Encoding Standard's "UTF-8 decode" and
// "UTF-8 decoder", and the WHATWG HTML Standard's 9.2.5 "Parsing an event
// stream" and 9.2.6 "Interpreting an event stream". The conformance table is
// checked against it as well as against the Decoder, and FuzzDecoder compares
// the two on arbitrary input.

// specResult is what a stream leaves behind in an EventSource: the events it
// dispatched, and its last event ID string and reconnection time.
type specResult struct {
	events   []sse.Event
	lastID   string
	retry    time.Duration
	retrySet bool
}

// whatwgDecodeUTF8 is the Encoding Standard's "UTF-8 decode": strip one
// leading BOM, then run the UTF-8 decoder with error mode "replacement".
func whatwgDecodeUTF8(b []byte) string {
	if len(b) >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF {
		b = b[3:]
	}
	return whatwgUTF8Decoder(b)
}

// whatwgUTF8Decoder is the Encoding Standard's UTF-8 decoder, with its
// variables named as in the standard. An ill-formed sequence gives one
// U+FFFD, and the byte that broke it is "restored to the queue": read again.
func whatwgUTF8Decoder(b []byte) string {
	var out strings.Builder
	var (
		codePoint     rune
		bytesSeen     int
		bytesNeeded   int
		lowerBoundary byte = 0x80
		upperBoundary byte = 0xBF
	)
	for i := 0; ; {
		if i == len(b) { // end-of-queue
			if bytesNeeded != 0 {
				out.WriteRune(utf8.RuneError)
			}
			return out.String()
		}
		c := b[i]
		if bytesNeeded == 0 {
			i++
			switch {
			case c <= 0x7F:
				out.WriteByte(c)
			case 0xC2 <= c && c <= 0xDF:
				bytesNeeded = 1
				codePoint = rune(c & 0x1F)
			case 0xE0 <= c && c <= 0xEF:
				if c == 0xE0 {
					lowerBoundary = 0xA0
				}
				if c == 0xED {
					upperBoundary = 0x9F
				}
				bytesNeeded = 2
				codePoint = rune(c & 0xF)
			case 0xF0 <= c && c <= 0xF4:
				if c == 0xF0 {
					lowerBoundary = 0x90
				}
				if c == 0xF4 {
					upperBoundary = 0x8F
				}
				bytesNeeded = 3
				codePoint = rune(c & 0x7)
			default:
				out.WriteRune(utf8.RuneError)
			}
			continue
		}
		if c < lowerBoundary || c > upperBoundary {
			codePoint, bytesNeeded, bytesSeen = 0, 0, 0
			lowerBoundary, upperBoundary = 0x80, 0xBF
			out.WriteRune(utf8.RuneError) // and c is read again: i stays
			continue
		}
		i++
		lowerBoundary, upperBoundary = 0x80, 0xBF
		codePoint = codePoint<<6 | rune(c&0x3F)
		bytesSeen++
		if bytesSeen != bytesNeeded {
			continue
		}
		out.WriteRune(codePoint)
		codePoint, bytesNeeded, bytesSeen = 0, 0, 0
	}
}

// specLines splits decoded text into lines as 9.2.5 says: a line ends with
// CRLF, with LF, or with a CR not followed by LF. Text after the last line end
// is an incomplete line, discarded with the rest of the pending data at the
// end of the stream.
func specLines(text string) []string {
	var lines []string
	start := 0
	for i := 0; i < len(text); i++ {
		switch text[i] {
		case '\r':
			lines = append(lines, text[start:i])
			if i+1 < len(text) && text[i+1] == '\n' {
				i++
			}
			start = i + 1
		case '\n':
			lines = append(lines, text[start:i])
			start = i + 1
		}
	}
	return lines
}

// specDecode interprets a whole stream as 9.2.6 says, line by line.
func specDecode(stream []byte) specResult {
	var (
		res          specResult
		data         strings.Builder
		eventType    string
		lastIDBuffer string
		blockRetry   time.Duration
	)
	for _, line := range specLines(whatwgDecodeUTF8(stream)) {
		// "If the line is empty (a blank line): Dispatch the event."
		if line == "" {
			// 1. Set the last event ID string of the event source to the
			// value of the last event ID buffer.
			res.lastID = lastIDBuffer
			// 2. If the data buffer is an empty string, set the data buffer
			// and the event type buffer to the empty string and return.
			if data.Len() == 0 {
				eventType, blockRetry = "", 0
				continue
			}
			// 3. If the data buffer's last character is a LF, remove it.
			d := strings.TrimSuffix(data.String(), "\n")
			// 4-7. Create the event; its type is the event type buffer when
			// that is not empty ("message" otherwise, which Event spells as
			// an empty Type), its lastEventId the last event ID string.
			res.events = append(res.events, sse.Event{ID: res.lastID, Type: eventType, Data: d, Retry: blockRetry})
			// 8. Set the data buffer and the event type buffer to the empty
			// string.
			data.Reset()
			eventType, blockRetry = "", 0
			continue
		}
		// "If the line starts with a U+003A COLON character (:)": ignore it.
		if line[0] == ':' {
			continue
		}
		// "If the line contains a U+003A COLON character": the field name is
		// before the first colon, the value after it, less one leading space.
		// "Otherwise": the whole line is the field name, the value is empty.
		name, value, found := strings.Cut(line, ":")
		if found {
			value = strings.TrimPrefix(value, " ")
		}
		// "Process the field", comparing names case-sensitively.
		switch name {
		case "event":
			eventType = value
		case "data":
			data.WriteString(value)
			data.WriteByte('\n')
		case "id":
			if !strings.ContainsRune(value, 0) {
				lastIDBuffer = value
			}
		case "retry":
			// "If the field value consists of only ASCII digits, then
			// interpret the field value as an integer in base ten, and set
			// the event stream's reconnection time to that integer."
			// A value too large for a time.Duration is ignored.
			if ms, ok := specRetry(value); ok {
				res.retry, res.retrySet, blockRetry = ms, true, ms
			}
		}
	}
	// "Once the end of the file is reached, any pending data must be
	// discarded": the open event, its data and its ID buffer.
	return res
}

func specRetry(value string) (time.Duration, bool) {
	if value == "" {
		return 0, false
	}
	const maxMS = int64(1<<63-1) / int64(time.Millisecond)
	var ms int64
	for _, c := range []byte(value) {
		if c < '0' || c > '9' {
			return 0, false
		}
		if ms > (maxMS-int64(c-'0'))/10 {
			return 0, false
		}
		ms = ms*10 + int64(c-'0')
	}
	return time.Duration(ms) * time.Millisecond, true
}
