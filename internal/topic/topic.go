// Package topic validates topic names and patterns and finds the values
// registered under the patterns that match a topic.
//
// A topic is one or more segments joined by '/': "chat/lobby". A pattern is
// a topic whose segments may also be "*", which matches exactly one segment,
// or, as its last segment only, "**", which matches one or more segments:
// "chat/*" matches "chat/lobby" but not "chat" or "chat/a/b"; "chat/**"
// matches both "chat/lobby" and "chat/a/b"; "**" matches every topic.
package topic

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// MaxLen is the longest topic or pattern accepted, in bytes.
const MaxLen = 256

// ErrInvalid is matched by every error from [Validate] and
// [ValidatePattern]; the hub's ErrInvalidTopic is this error.
var ErrInvalid = errors.New("invalid topic")

// Error says which topic or pattern is invalid and why, once:
// `invalid topic "a//b": empty segment`. It matches [ErrInvalid].
type Error struct {
	// Pattern is true when the string was checked as a pattern.
	Pattern bool
	// Value is the invalid string.
	Value string
	// Reason says what is wrong with it.
	Reason string
}

// Error returns "invalid topic <value>: <reason>" ("invalid pattern" for a
// pattern), the value quoted and cut to 40 characters.
func (e *Error) Error() string {
	what := "topic"
	if e.Pattern {
		what = "pattern"
	}
	return fmt.Sprintf("invalid %s %.40q: %s", what, e.Value, e.Reason)
}

// Unwrap returns [ErrInvalid].
func (e *Error) Unwrap() error { return ErrInvalid }

// Validate reports whether t is a valid topic to publish on: 1 to [MaxLen]
// bytes of UTF-8 without control characters or '*', in non-empty segments.
// Its error is an [*Error].
func Validate(t string) error {
	return check(t, false)
}

// ValidatePattern reports whether p is a valid pattern to subscribe with:
// a topic whose segments may be "*", and whose last segment may be "**".
// Its error is an [*Error].
func ValidatePattern(p string) error {
	return check(p, true)
}

func check(s string, pattern bool) error {
	if reason := problem(s, pattern); reason != "" {
		return &Error{Pattern: pattern, Value: s, Reason: reason}
	}
	return nil
}

// problem says what makes s an invalid topic (or pattern), or "".
func problem(s string, pattern bool) string {
	switch {
	case s == "":
		return "empty"
	case len(s) > MaxLen:
		return fmt.Sprintf("longer than %d bytes", MaxLen)
	case !utf8.ValidString(s):
		return "not valid UTF-8"
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Sprintf("control character at byte %d", i)
		}
	}
	for rest := s; ; {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case seg == "":
			return "empty segment"
		case !pattern && strings.Contains(seg, "*"):
			return "'*' is a wildcard, for subscribing only"
		case seg == "**" && more:
			return "'**' before the last segment"
		case seg != "*" && seg != "**" && strings.Contains(seg, "*"):
			return fmt.Sprintf("'*' inside segment %.40q (a wildcard is a whole segment)", seg)
		}
		if !more {
			return ""
		}
		rest = tail
	}
}

// IsPattern reports whether p has a wildcard segment.
func IsPattern(p string) bool { return strings.Contains(p, "*") }

// Match reports whether the valid pattern p matches the valid topic t: it
// is [Covers] for a topic, a pattern without wildcards.
func Match(p, t string) bool { return Covers(p, t) }

// Covers reports whether every topic the valid pattern r matches is also
// matched by the valid pattern c. Segment by segment: "**" in c covers the
// rest of r, whatever it is; "*" in c covers one segment of r that is "*"
// or a name; a name in c covers only the same name; and "**" in r is
// covered only by "**" in c. Both must end together, because "*" and names
// match exactly one segment and "**" at least one.
func Covers(c, r string) bool {
	for {
		cs, crest, cmore := strings.Cut(c, "/")
		if cs == "**" {
			return true
		}
		rs, rrest, rmore := strings.Cut(r, "/")
		switch {
		case rs == "**":
			return false
		case cs == "*":
		case cs != rs:
			return false
		}
		if !cmore || !rmore {
			return cmore == rmore
		}
		c, r = crest, rrest
	}
}

// Overlaps reports whether some topic matches both valid patterns a and b.
// It is exact: "chat/*" and "*/lobby" overlap (on "chat/lobby"); "chat/*"
// and "chat/a/**" do not, since one matches two segments and the other at
// least three.
func Overlaps(a, b string) bool {
	_, ok := Common([]string{a, b}, nil)
	return ok
}

// Common returns a topic that every valid pattern of all matches and no
// valid pattern of none matches, and whether there is one. It is exact (it
// decides the question, it does not guess), and ignores only [MaxLen]: the
// topic it returns is valid but for its length. With all empty it looks
// for a topic no pattern of none matches.
//
// Why it is exact: for one number of segments n, the topics all matches
// are a product of one set per segment, each either one literal or any
// segment at all. Fill every "any" segment with a segment no pattern names
// (the witness). A pattern of none that matches the witness has "*" or
// "**" wherever the witness is free, and the same literals elsewhere, so it
// matches every topic of n segments that all matches: one witness per n
// decides it. Beyond the longest pattern, every n answers as the next
// longer one does, so n runs from 1 to that length plus one.
func Common(all, none []string) (string, bool) {
	patterns := slices.Concat(all, none)
	longest, fresh := 0, freshSegment(patterns)
	for _, p := range patterns {
		longest = max(longest, strings.Count(p, "/")+1)
	}
	segs := make([]string, 0, longest+1)
	for n := 1; n <= longest+1; n++ {
		segs = segs[:0]
		ok := true
		for i := 0; i < n && ok; i++ {
			seg := ""
			for _, p := range all {
				s, fits := segmentAt(p, i, n)
				switch {
				case !fits:
					ok = false
				case s == "*" || s == "**":
				case seg == "":
					seg = s
				case seg != s:
					ok = false
				}
			}
			if seg == "" {
				seg = fresh
			}
			segs = append(segs, seg)
		}
		if !ok {
			continue
		}
		t := strings.Join(segs, "/")
		if !slices.ContainsFunc(none, func(p string) bool { return Match(p, t) }) {
			return t, true
		}
	}
	return "", false
}

// segmentAt returns the segment of pattern p that constrains segment i of
// a topic of n segments ("*" when p leaves it free), and false when p
// matches no topic of n segments.
func segmentAt(p string, i, n int) (string, bool) {
	if !fitsLength(p, n) {
		return "", false
	}
	for j := 0; ; j++ {
		seg, rest, more := strings.Cut(p, "/")
		if j == i || seg == "**" {
			return seg, true
		}
		if !more {
			return "", false // unreachable: fitsLength checked n
		}
		p = rest
	}
}

// fitsLength reports whether pattern p matches some topics of n segments.
func fitsLength(p string, n int) bool {
	k := strings.Count(p, "/") + 1
	if p == "**" || strings.HasSuffix(p, "/**") {
		return n >= k
	}
	return n == k
}

// freshSegment returns a segment that no pattern of patterns names: "~",
// "~~", ... whichever comes first.
func freshSegment(patterns []string) string {
	for s := "~"; ; s += "~" {
		if !slices.ContainsFunc(patterns, func(p string) bool {
			return slices.Contains(strings.Split(p, "/"), s)
		}) {
			return s
		}
	}
}
