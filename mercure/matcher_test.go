package mercure

import (
	"fmt"
	"sync"
	"testing"
)

// Tests of draft-dunglas-mercure, section "Matcher Types".

// selector builds a selector from matchers ("urlpattern:" prefix for URL
// patterns) on h.
func selector(t testing.TB, h *Handler, matchers ...string) *Selector {
	t.Helper()
	s := &Selector{}
	for _, m := range matchers {
		mt := Matcher{Type: MatchExact, Value: m}
		if len(m) > 11 && m[:11] == "urlpattern:" {
			mt = Matcher{Type: MatchURLPattern, Value: m[11:]}
		}
		if err := s.set.add(h.compiler, mt); err != nil {
			t.Fatalf("%v: %v", mt, err)
		}
		s.matchers = append(s.matchers, mt)
	}
	return s
}

func TestExact_MUST_compare_byte_for_byte(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, tc := range []struct {
		matcher, topic string
		want           bool
	}{
		{"https://example.com/a", "https://example.com/a", true},
		{"https://example.com/a", "https://EXAMPLE.com/a", false},
		{"https://example.com/a", "https://example.com/a/", false},
		{"https://example.com/a", "https://example.com:443/a", false},
		{"https://example.com/%7Ea", "https://example.com/~a", false},
		{"caf\u00e9", "cafe\u0301", false},                                        // NFC against NFD: no Unicode normalization
		{"foo", DefaultHubURL[:len(DefaultHubURL)-len("mercure")] + "foo", false}, // no resolution
		{"/books/1", "/books/1", true},
		{"", "", true},
	} {
		if got := selector(t, h, tc.matcher).Match(tc.topic); got != tc.want {
			t.Errorf("exact %q against %q = %v, want %v", tc.matcher, tc.topic, got, tc.want)
		}
	}
}

func TestURLPattern_MUST_resolve_relative_values_against_the_hub_URL(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.HubURL = "https://hub.example.com/.well-known/mercure" })
	for _, tc := range []struct {
		pattern, topic string
		want           bool
	}{
		{"/books/:id", "/books/1", true},
		{"/books/:id", "https://hub.example.com/books/1", true},
		{"/books/:id", "https://other.example.com/books/1", false},
		{"https://hub.example.com/books/:id", "/books/1", true},
		{"/.well-known/mercure/subscriptions/exact/:topic/:subscriber", "/.well-known/mercure/subscriptions/exact/a/b", true},
		{"https://hub.example.com/.well-known/:x", "foo", true}, // "foo" resolves to /.well-known/foo
		{"https://example.com/books/:id", "https://example.com/books/1", true},
		{"https://example.com/books/:id", "https://example.com/books/1/2", false},
		{"https://example.com/books/*", "https://example.com/books/1/2", true},
		{"https://example.com/books/:id(\\d+)", "https://example.com/books/12", true},
		{"https://example.com/books/:id(\\d+)", "https://example.com/books/x", false},
	} {
		if got := selector(t, h, "urlpattern:"+tc.pattern).Match(tc.topic); got != tc.want {
			t.Errorf("pattern %q against %q = %v, want %v", tc.pattern, tc.topic, got, tc.want)
		}
	}
}

func TestURLPattern_MUST_NOT_ignore_case(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	s := selector(t, h, `urlpattern:https://example.com/Books/:id\?q=A#F`)
	for topic, want := range map[string]bool{
		"https://example.com/Books/1?q=A#F": true,
		"https://EXAMPLE.COM/Books/1?q=A#F": true, // hosts are case-insensitive
		"HTTPS://example.com/Books/1?q=A#F": true, // so are schemes
		"https://example.com/books/1?q=A#F": false,
		"https://example.com/Books/1?q=a#F": false,
		"https://example.com/Books/1?q=A#f": false,
	} {
		if got := s.Match(topic); got != want {
			t.Errorf("Match(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestURLPattern_unparsable_topic_MUST_NOT_match(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	s := selector(t, h, "urlpattern:*://*/*", "urlpattern:https://*/*", "urlpattern:/*")
	for _, topic := range []string{"https://exa mple.com/x", "http://[::1/x", "https://a:99999/x"} {
		if s.Match(topic) {
			t.Errorf("unparsable topic %q matched a URL pattern", topic)
		}
	}
}

func TestSelector_MUST_match_canonical_or_alternate_topic(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	s := selector(t, h, "https://example.com/users/42/books/1")
	if !s.Match("https://example.com/books/1", "https://example.com/users/42/books/1") {
		t.Fatal("an alternate topic did not select the update")
	}
	p := selector(t, h, "urlpattern:https://example.com/users/:u/books/:b")
	if !p.Match("https://example.com/books/1", "https://example.com/users/42/books/1") {
		t.Fatal("an alternate topic did not select the update through a pattern")
	}
	if s.Match() || p.Match() {
		t.Fatal("an update without topics matched")
	}
}

func TestPatternCache_is_bounded_and_shared(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.Limits.PatternCache = 4 })
	a := selector(t, h, "urlpattern:/a/:x")
	b := selector(t, h, "urlpattern:/a/:x")
	if a.set.patterns[0] != b.set.patterns[0] {
		t.Fatal("two subscribers with one pattern got two compiled values")
	}
	for i := range 10 {
		selector(t, h, fmt.Sprintf("urlpattern:/p/%d/:x", i))
	}
	if n := h.compiler.len(); n != 4 {
		t.Fatalf("cache holds %d patterns, want its bound 4", n)
	}
	if !a.Match("/a/1") {
		t.Fatal("a selector whose pattern left the cache stopped matching")
	}
	if _, err := h.compiler.pattern("/("); err == nil {
		t.Fatal("invalid pattern compiled")
	}
	if _, err := h.compiler.pattern("/("); err == nil {
		t.Fatal("invalid pattern compiled from the cache")
	}
}

func TestTarget_evaluates_each_pattern_once(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	sels := []*Selector{selector(t, h, "urlpattern:/a/:x"), selector(t, h, "urlpattern:/a/:x", "b"), selector(t, h, "urlpattern:/c/:x")}
	tg := NewTarget([]string{"/a/1", "/z"})
	got := []bool{sels[0].Matches(tg), sels[1].Matches(tg), sels[2].Matches(tg)}
	if got[0] != true || got[1] != true || got[2] != false {
		t.Fatalf("matches = %v", got)
	}
	if len(tg.memo) != 2 {
		t.Fatalf("target evaluated %d distinct patterns, want 2", len(tg.memo))
	}
}

func TestSelector_is_safe_for_concurrent_use(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	s := selector(t, h, "urlpattern:/a/:x", "urlpattern:https://example.com/*", "e")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				topic := fmt.Sprintf("/a/%d", i*1000+j)
				if !s.Match(topic) || s.Match("/b/1") {
					t.Errorf("wrong answer for %q", topic)
					return
				}
				if _, err := h.compiler.pattern(fmt.Sprintf("/n/%d/:x", j%50)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
}
