package mercure

import (
	"fmt"
	"strings"
	"testing"
)

// Benchmarks of the per-update matching cost and of the worst URL patterns
// the default limits admit (2048-byte patterns and topics). docs/mercure.md
// quotes their results.

func BenchmarkSelector(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	exact := make([]string, 32)
	for i := range exact {
		exact[i] = fmt.Sprintf("https://example.com/books/%d", i)
	}
	topic := "https://example.com/books/31"
	for _, bc := range []struct {
		name     string
		matchers []string
	}{
		{"32_exact", exact},
		{"1_urlpattern", []string{"urlpattern:https://example.com/books/:id"}},
		{"8_urlpatterns_miss", []string{
			"urlpattern:https://example.com/a/:id", "urlpattern:https://example.com/b/:id", "urlpattern:https://example.com/c/:id", "urlpattern:https://example.com/d/:id",
			"urlpattern:https://example.com/e/:id", "urlpattern:https://example.com/f/:id", "urlpattern:https://example.com/g/:id", "urlpattern:https://example.com/h/:id",
		}},
	} {
		s := selector(b, h, bc.matchers...)
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				s.Match(topic)
			}
		})
	}
	// One update against 1,000 subscribers sharing one pattern: the Target
	// evaluates it once.
	subs := make([]*Selector, 1000)
	for i := range subs {
		subs[i] = selector(b, h, "urlpattern:https://example.com/books/:id")
	}
	b.Run("1000_subscribers_one_pattern_per_update", func(b *testing.B) {
		for b.Loop() {
			tg := NewTarget([]string{topic})
			for _, s := range subs {
				s.Matches(tg)
			}
		}
	})
}

// worstPatterns are URL patterns of the default limits (256 bytes, 16
// groups) built to make the regular expressions as large or as ambiguous as
// a subscriber can: the groups, then literal text up to the length limit.
func worstPatterns() map[string]string {
	fill := func(n int, unit string) string {
		p := "https://example.com" + strings.Repeat(unit, n)
		return p + strings.Repeat("/a", (256-len(p))/2)
	}
	var named strings.Builder
	for i := range 16 {
		fmt.Fprintf(&named, "/:p%d", i)
	}
	return map[string]string{
		"baseline_literal": "https://example.com/b",
		"wildcards":        fill(16, "/*"),
		"named_groups":     "https://example.com" + named.String() + strings.Repeat("/a", (256-19-named.Len())/2),
		"regexp_groups":    fill(8, "/(a*)"),
		"regexp_star":      fill(8, "/(.*)"),
		"optional":         fill(16, "/*?"),
	}
}

// worstTopic is a 2048-byte topic (the default MaxField) of many short
// segments, the slowest for the URL parser; typicalTopic is an ordinary
// one.
var (
	worstTopic   = "https://example.com" + strings.Repeat("/a", (2048-19)/2)
	typicalTopic = "https://example.com/books/12345/chapters/7"
)

func BenchmarkURLPatternWorstCase(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	for name, src := range worstPatterns() {
		p, err := h.compiler.pattern(src)
		if err != nil {
			b.Fatalf("%s: the default limits refuse it: %v", name, err)
		}
		b.Run("compile_"+name, func(b *testing.B) {
			for b.Loop() {
				if _, err := compilePattern(src, DefaultHubURL); err != nil {
					b.Fatal(err)
				}
			}
		})
		for topicName, topic := range map[string]string{"long_topic": worstTopic, "typical_topic": typicalTopic} {
			b.Run("match_"+name+"_"+topicName, func(b *testing.B) {
				for b.Loop() {
					p.test(NewTarget([]string{topic}), 0)
				}
			})
		}
	}
}

func BenchmarkParsePublish(b *testing.B) {
	h, _ := newTestHandler(b, nil)
	body := form("topic", "https://example.com/books/1", "topic", "https://example.com/users/42/books/1",
		"data", strings.Repeat(`{"title":"x"}`, 20), "private", "on", "id", "urn:uuid:e1ee88e2-532a-4d6f-ba70-f0f8bd584022")
	for b.Loop() {
		if _, err := parsePublishForm(body, h.url, h.limits); err != nil {
			b.Fatal(err)
		}
	}
}
