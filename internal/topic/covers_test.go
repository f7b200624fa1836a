package topic_test

import (
	"strings"
	"testing"

	"github.com/heraldsse/herald/internal/topic"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		c, r string
		want bool
	}{
		{"**", "chat", true},
		{"**", "chat/a/b", true},
		{"**", "*", true},
		{"**", "**", true},
		{"**", "chat/**", true},
		{"chat/*", "chat/a", true},
		{"chat/*", "chat/*", true},
		{"chat/*", "chat/**", false},
		{"chat/*", "chat", false},
		{"chat/*", "chat/a/b", false},
		{"chat/*", "*/a", false},
		{"chat/*", "news/a", false},
		{"chat/**", "chat/a", true},
		{"chat/**", "chat/a/b", true},
		{"chat/**", "chat/*", true},
		{"chat/**", "chat/*/x", true},
		{"chat/**", "chat/**", true},
		{"chat/**", "chat", false},
		{"chat/**", "**", false},
		{"chat/**", "*/a", false},
		{"chat/a", "chat/a", true},
		{"chat/a", "chat/b", false},
		{"chat/a", "chat/*", false},
		{"chat/a", "chat/**", false},
		{"chat/a", "**", false},
		{"chat/a", "chat", false},
		{"chat/a", "chat/a/b", false},
		{"*", "chat", true},
		{"*", "*", true},
		{"*", "**", false},
		{"*", "chat/a", false},
		{"*/a", "chat/a", true},
		{"*/a", "*/a", true},
		{"*/a", "*/b", false},
		{"*/**", "chat/a", true},
		{"*/**", "**", false},
		{"*/**", "*/**", true},
		{"a/*/c", "a/b/c", true},
		{"a/*/c", "a/*/c", true},
		{"a/*/c", "a/*/*", false},
	}
	for _, tt := range tests {
		t.Run(tt.c+"_covers_"+tt.r, func(t *testing.T) {
			if got := topic.Covers(tt.c, tt.r); got != tt.want {
				t.Errorf("covers(%q, %q) = %v, want %v", tt.c, tt.r, got, tt.want)
			}
		})
	}
}

// instances returns topics the pattern r matches: each "*" becomes a
// name and a final "**" one or several names.
func instances(r string) []string {
	one := strings.ReplaceAll(r, "**", "x")
	one = strings.ReplaceAll(one, "*", "y")
	out := []string{one}
	if strings.HasSuffix(r, "**") {
		out = append(out, strings.ReplaceAll(strings.TrimSuffix(r, "**")+"x/y/z", "*", "y"))
	}
	return out
}

// FuzzCovers checks covers against topic.Match: a pattern covers a topic
// exactly when it matches it, covers is reflexive, and when C covers R,
// every topic R matches, C matches too.
func FuzzCovers(f *testing.F) {
	for _, s := range [][2]string{
		{"**", "chat/a"}, {"chat/*", "chat/**"}, {"chat/*", "chat/*"}, {"*/**", "a/*/b"},
		{"a/b", "a/b"}, {"chat/**", "chat"}, {"*", "**"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, c, r string) {
		if topic.ValidatePattern(c) != nil || topic.ValidatePattern(r) != nil {
			return
		}
		if !topic.Covers(c, c) {
			t.Fatalf("covers(%q, %q) = false, want true", c, c)
		}
		if !topic.IsPattern(r) {
			if got, want := topic.Covers(c, r), topic.Match(c, r); got != want {
				t.Fatalf("covers(%q, %q) = %v, but Match = %v", c, r, got, want)
			}
		}
		if !topic.Covers(c, r) {
			return
		}
		for _, tp := range instances(r) {
			if topic.Validate(tp) != nil || !topic.Match(r, tp) {
				continue
			}
			if !topic.Match(c, tp) {
				t.Fatalf("covers(%q, %q) = true, but %q matches %q and not %q", c, r, tp, r, c)
			}
		}
	})
}
