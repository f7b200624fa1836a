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

// ErrInvalid is wrapped by every error from [Validate] and [ValidatePattern].
var ErrInvalid = errors.New("invalid topic")

// Validate reports whether t is a valid topic to publish on: 1 to [MaxLen]
// bytes of UTF-8 without control characters or '*', in non-empty segments.
func Validate(t string) error {
	return check(t, false)
}

// ValidatePattern reports whether p is a valid pattern to subscribe with:
// a topic whose segments may be "*", and whose last segment may be "**".
func ValidatePattern(p string) error {
	return check(p, true)
}

func check(s string, pattern bool) error {
	what := "topic"
	if pattern {
		what = "pattern"
	}
	switch {
	case s == "":
		return fmt.Errorf("%w: empty %s", ErrInvalid, what)
	case len(s) > MaxLen:
		return fmt.Errorf("%w: %s longer than %d bytes", ErrInvalid, what, MaxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%w: %s %.40q is not valid UTF-8", ErrInvalid, what, s)
	}
	for i, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Errorf("%w: %s %.40q has a control character at byte %d", ErrInvalid, what, s, i)
		}
	}
	for rest := s; ; {
		seg, tail, more := strings.Cut(rest, "/")
		switch {
		case seg == "":
			return fmt.Errorf("%w: %s %q has an empty segment", ErrInvalid, what, s)
		case !pattern && strings.Contains(seg, "*"):
			return fmt.Errorf("%w: topic %q contains '*' (wildcards are for subscribing)", ErrInvalid, s)
		case seg == "**" && more:
			return fmt.Errorf("%w: pattern %q has '**' before its last segment", ErrInvalid, s)
		case seg != "*" && seg != "**" && strings.Contains(seg, "*"):
			return fmt.Errorf("%w: pattern %q has '*' inside segment %q (a wildcard is a whole segment)", ErrInvalid, s, seg)
		}
		if !more {
			return nil
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
