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

// Match reports whether the valid pattern p matches the valid topic t.
func Match(p, t string) bool {
	for {
		ps, prest, pmore := strings.Cut(p, "/")
		if ps == "**" {
			return true
		}
		ts, trest, tmore := strings.Cut(t, "/")
		if ps != "*" && ps != ts {
			return false
		}
		if !pmore || !tmore {
			return pmore == tmore
		}
		p, t = prest, trest
	}
}
