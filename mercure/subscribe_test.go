package mercure

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// Tests of draft-dunglas-mercure, sections "Subscription" and
// "Reconnection, State Reconciliation, and Event Sourcing".

func parseSub(t *testing.T, h *Handler, r *http.Request) (SubscribeRequest, error) {
	t.Helper()
	return h.ParseSubscribe(r)
}

func TestSubscribe_MUST_support_match_parameters(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	req, err := parseSub(t, h, subscribeRequest(form(
		"match", "https://example.com/foo",
		"match", "bar",
		"match_exact", "baz",
		"match_urlpattern", "https://example.com/bar/:id",
	)))
	wantErr(t, err, nil)
	want := []Matcher{
		{MatchExact, "https://example.com/foo"}, {MatchExact, "bar"}, {MatchExact, "baz"},
		{MatchURLPattern, "https://example.com/bar/:id"},
	}
	if !slices.Equal(req.Selector.Matchers(), want) {
		t.Fatalf("Matchers = %v, want %v", req.Selector.Matchers(), want)
	}
	for topic, sel := range map[string]bool{
		"https://example.com/foo": true, "bar": true, "baz": true, "https://example.com/bar/7": true,
		"https://example.com/bar/7/8": false, "Bar": false, "https://example.com/foo/": false,
	} {
		if got := req.Selector.Match(topic); got != sel {
			t.Errorf("Match(%q) = %v, want %v", topic, got, sel)
		}
	}
}

func TestSubscribe_MUST_reject_unsupported_match_names(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, name := range []string{
		"Match", "MATCH", "match_Exact", "match_URLPattern", "match_urlPattern", "matchURLPattern",
		"match_uritemplate", "match_", "matches", "matchfoo", "Match_exact", "mAtCh",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseSub(t, h, subscribeRequest("match=a&"+form(name, "b")))
			wantErr(t, err, ErrBadRequest)
		})
	}
	t.Run("names outside the namespace are ignored", func(t *testing.T) {
		_, err := parseSub(t, h, subscribeRequest("match=a&matc=1&amatch=2&topic=3&x_match=4"))
		wantErr(t, err, nil)
	})
}

func TestSubscribe_MUST_reject_invalid_matcher_values(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) {
		o.Limits = Limits{MaxMatchers: 4, MaxURLPatterns: 2, MaxMatcherLength: 40}
	})
	cases := []struct{ name, query string }{
		{"no matcher", "last_event_id=x"},
		{"no parameter", ""},
		{"value over the length limit", form("match", strings.Repeat("a", 41))},
		{"too many matchers", "match=a&match=b&match=c&match=d&match=e"},
		{"too many URL patterns", "match_urlpattern=/a/:x&match_urlpattern=/b/:x&match_urlpattern=/c/:x"},
		{"malformed URL pattern", form("match_urlpattern", "https://example.com/(")},
		{"URL pattern with a lookahead (no RE2)", form("match_urlpattern", "/(?=a)")},
		{"unbalanced group", form("match_urlpattern", "/:id(")},
		{"invalid UTF-8 name", "%FF=1&match=a"},
		{"URL pattern over the pattern length limit", form("match_urlpattern", "/"+strings.Repeat("a", 256))},
		{"URL pattern with 17 wildcards", form("match_urlpattern", strings.Repeat("/*", 17))},
		{"URL pattern with 17 named groups", form("match_urlpattern", "/:a0/:a1/:a2/:a3/:a4/:a5/:a6/:a7/:a8/:a9/:b0/:b1/:b2/:b3/:b4/:b5/:b6")},
		{"URL pattern with 9 starred regexp groups", form("match_urlpattern", strings.Repeat("/(.*)", 9))},
	}
	for _, bt := range badText {
		cases = append(cases, struct{ name, query string }{"value with " + bt.name, form("match", bt.value)})
		cases = append(cases, struct{ name, query string }{"URL pattern with " + bt.name, form("match_urlpattern", bt.value)})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseSub(t, h, subscribeRequest(tc.query))
			wantErr(t, err, ErrBadRequest)
		})
	}
	t.Run("URL pattern at the group limit", func(t *testing.T) {
		h, _ := newTestHandler(t, nil)
		p := "https://example.com"
		for i := range 16 {
			p += fmt.Sprintf("/:a%d", i)
		}
		_, err := parseSub(t, h, subscribeRequest(form("match_urlpattern", p+`/\:b\*\(`)))
		wantErr(t, err, nil)
	})
	t.Run("at the limits", func(t *testing.T) {
		q := "match=" + strings.Repeat("a", 40) + "&match_urlpattern=/a/:x&match_urlpattern=/b/:x&match_urlpattern=*"
		_, err := parseSub(t, h, subscribeRequest(q))
		wantErr(t, err, nil)
	})
}

func TestSubscribe_wildcard_MUST_match_every_topic_whatever_the_type(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, q := range []string{"match=*", "match_exact=*", "match_urlpattern=*", "match=%2A"} {
		req, err := parseSub(t, h, subscribeRequest(q))
		wantErr(t, err, nil)
		for _, topic := range []string{"a", "https://example.com/x", "", "not a url ::"} {
			if !req.Selector.Match(topic) {
				t.Errorf("%s does not match %q", q, topic)
			}
		}
	}
}

func TestSubscribe_MUST_take_the_union_of_query_and_body(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	r := httptest.NewRequest(MethodQuery, DefaultHubURL+"?match=a&last_event_id=q", strings.NewReader("match=b&match_urlpattern=/c/:x&last_event_id=b"))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req, err := parseSub(t, h, r)
	wantErr(t, err, nil)
	if got := len(req.Selector.Matchers()); got != 3 {
		t.Fatalf("%d matchers, want 3 (query and body)", got)
	}
	if req.LastEventID != "q" {
		t.Fatalf("LastEventID = %q, want the query's", req.LastEventID)
	}

	t.Run("cursor only in the body", func(t *testing.T) {
		r := httptest.NewRequest(MethodQuery, DefaultHubURL, strings.NewReader("match=b&last_event_id=b"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req, err := parseSub(t, h, r)
		wantErr(t, err, nil)
		if req.LastEventID != "b" {
			t.Fatalf("LastEventID = %q, want the body's", req.LastEventID)
		}
	})
	t.Run("limits count both components", func(t *testing.T) {
		h, _ := newTestHandler(t, func(o *Options) { o.Limits.MaxMatchers = 2 })
		r := httptest.NewRequest(MethodQuery, DefaultHubURL+"?match=a&match=b", strings.NewReader("match=c"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := parseSub(t, h, r)
		wantErr(t, err, ErrBadRequest)
	})
	t.Run("body must be a form", func(t *testing.T) {
		r := httptest.NewRequest(MethodQuery, DefaultHubURL, strings.NewReader(`{"match":"a"}`))
		r.Header.Set("Content-Type", "application/json")
		_, err := parseSub(t, h, r)
		wantErr(t, err, ErrUnsupportedMediaType)
	})
	t.Run("GET body is not read", func(t *testing.T) {
		r := httptest.NewRequest(http.MethodGet, DefaultHubURL, strings.NewReader("match=a"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		_, err := parseSub(t, h, r)
		wantErr(t, err, ErrBadRequest)
	})
}

func TestSubscribe_MUST_prefer_the_Last_Event_ID_header(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, tc := range []struct{ name, header, query, want string }{
		{"header only", "h", "", "h"},
		{"query only", "", "last_event_id=q", "q"},
		{"both: the header wins", "h", "last_event_id=q", "h"},
		{"earliest", "", "last_event_id=earliest", EarliestID},
		{"first query value", "", "last_event_id=1&last_event_id=2", "1"},
		{"empty parameter is none", "", "last_event_id=", ""},
		{"none", "", "", ""},
		{"legacy lastEventID is not read", "", "lastEventID=x", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := subscribeRequest("match=a&" + tc.query)
			if tc.header != "" {
				r.Header.Set("Last-Event-ID", tc.header)
			}
			req, err := parseSub(t, h, r)
			wantErr(t, err, nil)
			if req.LastEventID != tc.want {
				t.Fatalf("LastEventID = %q, want %q", req.LastEventID, tc.want)
			}
		})
	}
	for name, v := range map[string]string{"control character": "last_event_id=a%00b", "over the field limit": "last_event_id=" + strings.Repeat("x", 2049)} {
		t.Run("bad cursor: "+name, func(t *testing.T) {
			_, err := parseSub(t, h, subscribeRequest("match=a&"+v))
			wantErr(t, err, ErrBadRequest)
		})
	}
}

func TestSubscribe_legacy_parameters(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.Legacy = true })
	req, err := parseSub(t, h, subscribeRequest("topic=a&topic=*&lastEventID=x"))
	wantErr(t, err, nil)
	if len(req.Selector.Matchers()) != 2 || req.LastEventID != "x" || !req.Selector.Match("anything") {
		t.Fatalf("got %+v", req)
	}
	req, err = parseSub(t, h, subscribeRequest("topic=a&lastEventID=x&last_event_id=y"))
	wantErr(t, err, nil)
	if req.LastEventID != "y" {
		t.Fatalf("last_event_id should win over lastEventID, got %q", req.LastEventID)
	}
	_, err = parseSub(t, h, subscribeRequest(form("topic", "https://example.com/books/{id}")))
	wantErr(t, err, ErrBadRequest)
}
