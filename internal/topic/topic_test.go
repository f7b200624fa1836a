package topic_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/heraldsse/herald/internal/topic"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		topic   string
		topicOK bool
		patOK   bool
	}{
		{"one segment", "chat", true, true},
		{"nested", "chat/lobby/1", true, true},
		{"unicode", "chat/café", true, true},
		{"empty", "", false, false},
		{"leading slash", "/chat", false, false},
		{"trailing slash", "chat/", false, false},
		{"empty segment", "chat//lobby", false, false},
		{"lone slash", "/", false, false},
		{"star segment", "chat/*", false, true},
		{"star in middle", "chat/*/messages", false, true},
		{"double star last", "chat/**", false, true},
		{"double star alone", "**", false, true},
		{"double star not last", "chat/**/x", false, false},
		{"star inside segment", "chat/lob*", false, false},
		{"triple star", "chat/***", false, false},
		{"newline", "chat\nlobby", false, false},
		{"carriage return", "chat\rx", false, false},
		{"NUL", "chat\x00", false, false},
		{"DEL", "chat\x7f", false, false},
		{"C1 control", "chat\u0085", false, false},
		{"invalid UTF-8", "chat/\xff", false, false},
		{"max length", strings.Repeat("a", topic.MaxLen), true, true},
		{"over max length", strings.Repeat("a", topic.MaxLen+1), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := topic.Validate(tt.topic); (err == nil) != tt.topicOK {
				t.Errorf("Validate(%q) = %v, want ok=%v", tt.topic, err, tt.topicOK)
			} else if err != nil && !errors.Is(err, topic.ErrInvalid) {
				t.Errorf("Validate(%q) = %v, want it to wrap ErrInvalid", tt.topic, err)
			}
			if err := topic.ValidatePattern(tt.topic); (err == nil) != tt.patOK {
				t.Errorf("ValidatePattern(%q) = %v, want ok=%v", tt.topic, err, tt.patOK)
			}
		})
	}
}

// TestErrorMessages pins what each invalid topic or pattern is told: the
// string once, and the reason once, with no "invalid topic" repeated.
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		in      string
		pattern bool
		want    string
	}{
		{"", false, `invalid topic "": empty`},
		{strings.Repeat("a", topic.MaxLen+1), false, `invalid topic "` + strings.Repeat("a", 40) + `": longer than 256 bytes`},
		{"chat/\xff", false, `invalid topic "chat/\xff": not valid UTF-8`},
		{"chat\nlobby", false, `invalid topic "chat\nlobby": control character at byte 4`},
		{"a//b", false, `invalid topic "a//b": empty segment`},
		{"chat/*", false, `invalid topic "chat/*": '*' is a wildcard, for subscribing only`},
		{"chat/**/x", true, `invalid pattern "chat/**/x": '**' before the last segment`},
		{"chat/lob*", true, `invalid pattern "chat/lob*": '*' inside segment "lob*" (a wildcard is a whole segment)`},
	}
	for _, tt := range tests {
		check := topic.Validate
		if tt.pattern {
			check = topic.ValidatePattern
		}
		err := check(tt.in)
		if err == nil || err.Error() != tt.want {
			t.Errorf("validating %.40q (pattern %v) = %v, want %s", tt.in, tt.pattern, err, tt.want)
		}
		var te *topic.Error
		if !errors.As(err, &te) || te.Value != tt.in || te.Pattern != tt.pattern || !errors.Is(err, topic.ErrInvalid) {
			t.Errorf("validating %.40q: %#v, want a *topic.Error matching ErrInvalid", tt.in, err)
		}
	}
}

var matchTests = []struct {
	pattern, topic string
	want           bool
}{
	{"chat", "chat", true},
	{"chat", "chat/lobby", false},
	{"chat/lobby", "chat", false},
	{"chat/*", "chat/lobby", true},
	{"chat/*", "chat", false},
	{"chat/*", "chat/a/b", false},
	{"*/lobby", "chat/lobby", true},
	{"*/lobby", "chat/other", false},
	{"chat/**", "chat/a", true},
	{"chat/**", "chat/a/b/c", true},
	{"chat/**", "chat", false},
	{"chat/**", "news/a", false},
	{"**", "anything/at/all", true},
	{"**", "x", true},
	{"*", "x", true},
	{"*", "x/y", false},
	{"*/*/**", "a/b", false},
	{"*/*/**", "a/b/c", true},
	{"tasks/*", "tasks/abc", true},
}

func TestMatch(t *testing.T) {
	for _, tt := range matchTests {
		if got := topic.Match(tt.pattern, tt.topic); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.topic, got, tt.want)
		}
	}
}

// TestIndexAgreesWithMatch checks that the map-and-trie index finds exactly
// the patterns that Match accepts.
func TestIndexAgreesWithMatch(t *testing.T) {
	var x topic.Index[string]
	patterns := map[string]bool{}
	for _, tt := range matchTests {
		patterns[tt.pattern] = true
	}
	for p := range patterns {
		x.Add(p, p)
		x.Add(p, p) // idempotent
	}
	if x.Len() != len(patterns) {
		t.Fatalf("Len() = %d, want %d", x.Len(), len(patterns))
	}
	topics := []string{"chat", "chat/lobby", "chat/a/b", "chat/a/b/c", "x", "x/y", "a/b", "a/b/c", "tasks/abc", "news/a"}
	for _, tp := range topics {
		var got []string
		x.Match(tp, func(p string) { got = append(got, p) })
		var want []string
		for p := range patterns {
			if topic.Match(p, tp) {
				want = append(want, p)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("Index.Match(%q) = %q, want %q", tp, got, want)
		}
	}
	for p := range patterns {
		x.Remove(p, p)
		x.Remove(p, p)
	}
	if x.Len() != 0 {
		t.Fatalf("after removing all, Len() = %d", x.Len())
	}
	for _, tp := range topics {
		x.Match(tp, func(p string) { t.Errorf("after removal, Match(%q) found %q", tp, p) })
	}
}

func FuzzPattern(f *testing.F) {
	for _, tt := range matchTests {
		f.Add(tt.pattern, tt.topic)
	}
	f.Add("a//b", "a/b")
	f.Add("**/a", "x/a")
	f.Fuzz(func(t *testing.T, p, tp string) {
		pErr := topic.ValidatePattern(p)
		tErr := topic.Validate(tp)
		if tErr == nil && topic.ValidatePattern(tp) != nil {
			t.Fatalf("topic %q valid but not as a pattern", tp)
		}
		if pErr != nil || tErr != nil {
			return
		}
		var x topic.Index[int]
		x.Add(p, 1)
		found := false
		x.Match(tp, func(int) { found = true })
		if want := topic.Match(p, tp); found != want {
			t.Fatalf("Index.Match(%q) under %q = %v, Match = %v", tp, p, found, want)
		}
		if !topic.IsPattern(p) && topic.Match(p, tp) != (p == tp) {
			t.Fatalf("literal pattern %q vs topic %q", p, tp)
		}
		x.Remove(p, 1)
		if x.Len() != 0 {
			t.Fatalf("Len after Remove = %d", x.Len())
		}
	})
}

func TestOverlaps(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"chat/lobby", "chat/lobby", true},
		{"chat/lobby", "chat/other", false},
		{"chat/*", "*/lobby", true},
		{"chat/*", "chat/a/**", false},
		{"chat/**", "chat/*", true},
		{"chat/**", "chat", false},
		{"**", "x", true},
		{"*/*/**", "a/b", false},
		{"*/*/**", "a/**", true},
		{"stocks/**", "chat/*", false},
		{"a/*/c", "a/b/*", true},
		{"a/*/c", "a/b/d", false},
	}
	for _, tt := range tests {
		for _, pair := range [][2]string{{tt.a, tt.b}, {tt.b, tt.a}} {
			if got := topic.Overlaps(pair[0], pair[1]); got != tt.want {
				t.Errorf("Overlaps(%q, %q) = %v, want %v", pair[0], pair[1], got, tt.want)
			}
		}
	}
}

func TestCommon(t *testing.T) {
	tests := []struct {
		name      string
		all, none []string
		want      string // "" for none
	}{
		{"default policy behind chat/** holds no chat topic", []string{"chat/lobby", "**"}, []string{"chat/**"}, ""},
		{"default policy behind chat/** holds other topics", []string{"**"}, []string{"chat/**", "stocks/**"}, "~"},
		{"a one-segment topic escapes chat/**", []string{"*", "**"}, []string{"chat/**"}, "~"},
		{"chat itself escapes chat/**", []string{"chat", "**"}, []string{"chat/**"}, "chat"},
		{"a wider pattern covered piecewise by length", []string{"a/**"}, []string{"a/*", "a/*/*", "a/*/*/**"}, ""},
		{"one length left uncovered", []string{"a/**"}, []string{"a/*", "a/*/*/**"}, "a/~/~"},
		{"the fresh segment avoids literals", []string{"*"}, []string{"~", "~~"}, "~~~"},
		{"literals disagree", []string{"a/*", "b/*"}, nil, ""},
		{"nothing at all excluded", nil, nil, "~"},
		{"everything excluded", nil, []string{"**"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := topic.Common(tt.all, tt.none)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("Common(%q, %q) = %q, %v; want %q", tt.all, tt.none, got, ok, tt.want)
			}
		})
	}
}

// TestCommonExhaustive checks Common against brute force: every pattern of
// up to three segments over the literals a and b, and every topic of up to
// five segments over a, b and c (c stands for every segment no pattern
// names; five is past the longest pattern plus one).
func TestCommonExhaustive(t *testing.T) {
	var patterns, topics []string
	var grow func(prefix string, n int, segs []string, out *[]string)
	grow = func(prefix string, n int, segs []string, out *[]string) {
		if n == 0 {
			return
		}
		for _, s := range segs {
			p := s
			if prefix != "" {
				p = prefix + "/" + s
			}
			*out = append(*out, p)
			if s != "**" {
				grow(p, n-1, segs, out)
			}
		}
	}
	grow("", 3, []string{"a", "b", "*", "**"}, &patterns)
	grow("", 5, []string{"a", "b", "c"}, &topics)
	for _, p := range patterns {
		if err := topic.ValidatePattern(p); err != nil {
			t.Fatalf("generated an invalid pattern: %v", err)
		}
	}
	matchesAll := func(t string, all, none []string) bool {
		for _, p := range all {
			if !topic.Match(p, t) {
				return false
			}
		}
		for _, p := range none {
			if topic.Match(p, t) {
				return false
			}
		}
		return true
	}
	n := 0
	for _, a := range patterns {
		for _, b := range patterns {
			for _, none := range [][]string{nil, {a}, {"a/*"}, {"*/b/**", "a"}} {
				all := []string{a, b}
				want := slices.ContainsFunc(topics, func(t string) bool { return matchesAll(t, all, none) })
				got, ok := topic.Common(all, none)
				if ok != want || ok && !matchesAll(got, all, none) {
					t.Fatalf("Common(%q, %q) = %q, %v; brute force says %v", all, none, got, ok, want)
				}
				n++
			}
		}
	}
	t.Logf("%d cases over %d patterns and %d topics", n, len(patterns), len(topics))
}

// FuzzCommon checks that a topic Common finds is valid and matches what it
// should, and that when it finds none, the fuzzed topic is no
// counterexample.
func FuzzCommon(f *testing.F) {
	f.Add("chat/*", "*/lobby", "chat/x", "chat/lobby")
	f.Add("**", "a/**", "a/*", "a/b/c")
	f.Add("a/**", "**", "a/*/*/**", "a/b/c")
	f.Add("~", "*", "~~", "~~~")
	f.Fuzz(func(t *testing.T, a, b, c, tp string) {
		for _, p := range []string{a, b, c} {
			if topic.ValidatePattern(p) != nil {
				return
			}
		}
		all, none := []string{a, b}, []string{c}
		got, ok := topic.Common(all, none)
		overlaps := topic.Overlaps(a, b)
		if overlaps != topic.Overlaps(b, a) || ok && !overlaps {
			t.Fatalf("Overlaps(%q, %q) = %v, reversed %v, Common with %q excluded %v", a, b, overlaps, topic.Overlaps(b, a), c, ok)
		}
		if topic.Validate(tp) == nil && topic.Match(a, tp) && topic.Match(b, tp) && !overlaps {
			t.Fatalf("Overlaps(%q, %q) = false, but %q matches both", a, b, tp)
		}
		if ok {
			if err := topic.Validate(got); err != nil && len(got) <= topic.MaxLen {
				t.Fatalf("Common(%q, %q) = %q, invalid: %v", all, none, got, err)
			}
			if !topic.Match(a, got) || !topic.Match(b, got) || topic.Match(c, got) {
				t.Fatalf("Common(%q, %q) = %q, which does not fit", all, none, got)
			}
			return
		}
		if topic.Validate(tp) == nil && topic.Match(a, tp) && topic.Match(b, tp) && !topic.Match(c, tp) {
			t.Fatalf("Common(%q, %q) found nothing, but %q fits", all, none, tp)
		}
	})
}
