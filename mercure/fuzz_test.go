package mercure

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dunglas/go-urlpattern"

	"github.com/heraldsse/herald/sse"
)

// The fuzz targets' seeds are in testdata/fuzz/<target>; each file names the
// case it covers.

// FuzzParsePublish feeds arbitrary bodies to the publish parser: it must
// never panic, and whatever it accepts must satisfy the draft's rules and
// reach a subscriber intact.
func FuzzParsePublish(f *testing.F) {
	f.Add("topic=a&data=x")
	h, _ := newTestHandler(f, func(o *Options) { o.Limits = Limits{MaxTopics: 4, MaxField: 64, MaxData: 256} })
	crlf := strings.NewReplacer("\r\n", "\n", "\r", "\n")
	f.Fuzz(func(t *testing.T, body string) {
		u, err := parsePublishForm(body, h.url, h.limits)
		if err != nil {
			return
		}
		if len(u.Topics) == 0 || len(u.Topics) > 4 {
			t.Fatalf("accepted %d topics", len(u.Topics))
		}
		for _, topic := range u.Topics {
			if checkText(topic) != nil || topic == Wildcard || h.url.Reserved(topic) || len(topic) > 64 {
				t.Fatalf("accepted topic %q", topic)
			}
		}
		if u.ID != "" && (checkID(u.ID) != nil || len(u.ID) > 64) {
			t.Fatalf("accepted id %q", u.ID)
		}
		if u.Type != "" && checkType(u.Type) != nil {
			t.Fatalf("accepted type %q", u.Type)
		}
		if u.Retry < 0 {
			t.Fatalf("negative retry %v", u.Retry)
		}
		if u.ID == "" {
			u.ID = "#1"
		}
		b, err := u.AppendEvent(nil)
		if err != nil {
			t.Fatalf("an accepted update does not encode: %v", err)
		}
		ev, err := sse.NewDecoder(strings.NewReader(string(b))).Next()
		if err != nil {
			t.Fatalf("decoding %q: %v", b, err)
		}
		if ev.ID != u.ID || ev.Type != u.Type || ev.Data != crlf.Replace(u.Data) {
			t.Fatalf("sent %+v, received %+v", u, ev)
		}
	})
}

// FuzzParseSubscribe feeds arbitrary queries, bodies and Last-Event-ID
// headers to the subscribe parser (as a QUERY request): it must never
// panic, and whatever it accepts must hold at least one valid matcher
// within the limits.
func FuzzParseSubscribe(f *testing.F) {
	f.Add("match=a", "", "")
	h, _ := newTestHandler(f, func(o *Options) {
		o.Limits = Limits{MaxMatchers: 4, MaxURLPatterns: 2, MaxMatcherLength: 64}
	})
	f.Fuzz(func(t *testing.T, query, body, lastEventID string) {
		r := httptest.NewRequest(MethodQuery, DefaultHubURL, strings.NewReader(body))
		r.URL.RawQuery = query
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if lastEventID != "" {
			r.Header["Last-Event-Id"] = []string{lastEventID}
		}
		req, err := h.ParseSubscribe(r)
		if err != nil {
			return
		}
		ms := req.Selector.Matchers()
		if len(ms) == 0 || len(ms) > 4 {
			t.Fatalf("accepted %d matchers", len(ms))
		}
		for _, m := range ms {
			if checkText(m.Value) != nil || len(m.Value) > 64 || m.Type != MatchExact && m.Type != MatchURLPattern {
				t.Fatalf("accepted matcher %+v", m)
			}
		}
		if checkText(req.LastEventID) != nil {
			t.Fatalf("accepted cursor %q", req.LastEventID)
		}
		req.Selector.Match("https://example.com/a", "a", "")
	})
}

// FuzzSelector checks the matchers against their definitions on arbitrary
// patterns and topics: an exact matcher matches exactly its own value, and a
// URL pattern evaluated the Selector's way (the topic resolved once against
// the hub URL, then matched as an absolute URL) agrees with the library
// evaluating the topic against the hub URL itself. It also runs the
// reserved-namespace test, which must not panic.
func FuzzSelector(f *testing.F) {
	f.Add("https://example.com/books/:id", "https://example.com/books/1")
	h, _ := newTestHandler(f, nil)
	f.Fuzz(func(t *testing.T, pattern, topic string) {
		_ = h.url.Reserved(topic)
		exact := &Selector{}
		if err := exact.set.add(h.compiler, Matcher{Type: MatchExact, Value: pattern}); err != nil {
			t.Fatal(err)
		}
		if got, want := exact.Match(topic), pattern == topic || pattern == Wildcard; got != want {
			t.Fatalf("exact %q against %q = %v", pattern, topic, got)
		}
		if pattern == Wildcard || len(pattern) > 256 {
			return
		}
		s := &Selector{}
		if err := s.set.add(h.compiler, Matcher{Type: MatchURLPattern, Value: pattern}); err != nil {
			return
		}
		up, err := urlpattern.New(pattern, DefaultHubURL, nil)
		if err != nil {
			t.Fatalf("the cache compiled %q, the library alone refuses it: %v", pattern, err)
		}
		if got, want := s.Match(topic), up.Test(topic, DefaultHubURL); got != want {
			t.Fatalf("pattern %q against topic %q: selector %v, library %v", pattern, topic, got, want)
		}
	})
}
