package server_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/server"
)

// TestMercureTopics checks the mapping of Mercure topics into herald's
// topic index: every Mercure topic becomes a valid herald topic of the
// namespace, the same topic always the same one, two topics never one, and
// the update's Mercure topics come back from its herald topics, in order.
// Topics tried: URLs, relative references, '/' runs, '*', '%' and its
// escapes, control characters, invalid UTF-8, and topics too long for a
// herald topic, alone, mixed and repeated.
func TestMercureTopics(t *testing.T) {
	long := "https://example.com/" + strings.Repeat("segment/", 300)
	tests := []struct {
		name   string
		topics []string
		want   string // the herald topic of the first
	}{
		{"a URL", []string{"https://example.com/books/1"}, "mercure/https:%2F%2Fexample.com%2Fbooks%2F1"},
		{"relative", []string{"books/1"}, "mercure/books%2F1"},
		{"slashes only", []string{"//"}, "mercure/%2F%2F"},
		{"a star", []string{"*"}, "mercure/%2A"},
		{"percent and its escape", []string{"%2F", "/"}, "mercure/%252F"},
		{"control characters", []string{"a\x00b\x7f\u0085"}, "mercure/a%00b%7F%C2%85"},
		{"invalid UTF-8", []string{"a\xffb"}, "mercure/a%FFb"},
		{"unicode", []string{"urn:café:ünï"}, "mercure/urn:café:ünï"},
		{"what a hashed name looks like", []string{"%~abc"}, "mercure/%25~abc"},
		{"long", []string{long}, ""},
		{"long multi-byte", []string{strings.Repeat("é", 500)}, ""},
		{"long, then alternates", []string{long, "short", long + "x", strings.Repeat("/*", 200)}, ""},
		{"a long topic twice", []string{long, "short", long}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, also := server.MercureTopics(tt.topics)
			if tt.want != "" && name != tt.want {
				t.Errorf("herald topic of %q = %q, want %q", tt.topics[0], name, tt.want)
			}
			checkMapping(t, tt.topics, name, also)
		})
	}
	a, _ := server.MercureTopics([]string{long})
	b, _ := server.MercureTopics([]string{long + "x"})
	if a == b || !strings.HasPrefix(a, "mercure/%~") {
		t.Errorf("long topics map to %q and %q, want distinct hashed names", a, b)
	}
	if got := server.MercureTopicsOf([]string{"chat/lobby", "mercure/%zz", "mercure/%~nocarrier", "mercure/ok"}); fmt.Sprint(got) != "[ok]" {
		t.Errorf("topics of an event with foreign and malformed names = %q, want [ok]", got)
	}
}

// checkMapping checks the herald topics of the Mercure topics in.
func checkMapping(t *testing.T, in []string, name string, also []string) {
	t.Helper()
	for _, h := range append([]string{name}, also...) {
		if err := topic.Validate(h); err != nil {
			t.Fatalf("herald topic %q of %q: %v", h, in, err)
		}
		if !strings.HasPrefix(h, server.MercurePrefix) {
			t.Fatalf("herald topic %q of %q is outside the namespace", h, in)
		}
	}
	if !topic.Match("mercure/*", name) {
		t.Fatalf("herald topic %q of %q is not one segment under the namespace", name, in)
	}
	if got := server.MercureTopicsOf(append([]string{name}, also...)); !slices.Equal(got, in) {
		t.Fatalf("topics of %q come back as %q", in, got)
	}
}

// FuzzMercureTopics checks the mapping on arbitrary topic lists (one per
// line): valid herald topics, and the Mercure topics come back.
func FuzzMercureTopics(f *testing.F) {
	for _, seed := range []string{
		"https://example.com/a\nhttps://example.com/b",
		"*", "%", "%~", "a/b/c", strings.Repeat("x", 300), strings.Repeat("%/", 200) + "\nz",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		topics := strings.Split(s, "\n")
		if len(topics) > 32 {
			return
		}
		name, also := server.MercureTopics(topics)
		checkMapping(t, topics, name, also)
	})
}
