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
