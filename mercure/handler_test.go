package mercure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// Tests of the handler's request side: every refusal of
// draft-dunglas-mercure ("Error Responses" and the sections each rule comes
// from) through ServeHTTP, and what the handler hands the hub.

const challengePrefix = `Bearer resource_metadata="https://localhost/.well-known/oauth-protected-resource/.well-known/mercure"`

func TestHandler_refusals(t *testing.T) {
	h, rh := newTestHandler(t, func(o *Options) { o.Limits.MaxBody = 1000 })
	pubTok := sign(t, claims([]string{"publish"}, "https://example.com/books/1"))
	subTok := sign(t, claims([]string{"subscribe"}, "*"))
	expired := claims([]string{"publish"}, "*")
	expired["exp"] = testNow.Add(-time.Minute).Unix()
	expiredTok := sign(t, expired)

	withHeader := func(r *http.Request, k, v string) *http.Request { r.Header.Set(k, v); return r }
	for _, tc := range []struct {
		name      string
		req       *http.Request
		status    int
		challenge string // the WWW-Authenticate value; "" for none
	}{
		{"publish without a token", publishRequest("topic=a", ""), 401, challengePrefix},
		{"publish with an expired token", publishRequest("topic=https://example.com/books/1", expiredTok), 401, challengePrefix + `, error="invalid_token"`},
		{"publish with a bad signature", publishRequest("topic=a", pubTok[:len(pubTok)-2]+"xx"), 401, challengePrefix + `, error="invalid_token"`},
		{"publish with a Basic header", withHeader(publishRequest("topic=a", ""), "Authorization", "Basic eDp5"), 400, challengePrefix + `, error="invalid_request"`},
		{"publish beyond the token's topics", publishRequest("topic=https://example.com/books/2", pubTok), 403, challengePrefix + `, error="insufficient_scope"`},
		{"publish with one topic beyond the token's", publishRequest("topic=https://example.com/books/1&topic=https://example.com/books/2", pubTok), 403, challengePrefix + `, error="insufficient_scope"`},
		{"publish with a subscriber token", publishRequest("topic=https://example.com/books/1", subTok), 403, challengePrefix + `, error="insufficient_scope"`},
		{"publish without a topic", publishRequest("data=x", pubTok), 400, ""},
		{"publish on the reserved namespace", publishRequest("topic=/.well-known/mercure/subscriptions", pubTok), 400, ""},
		{"publish on *", publishRequest("topic=*", pubTok), 400, ""},
		{"publish with type mercure", publishRequest("topic=https://example.com/books/1&type=mercure", pubTok), 400, ""},
		{"publish with a bad retry", publishRequest("topic=https://example.com/books/1&retry=1s", pubTok), 400, ""},
		{"publish with a bad id", publishRequest("topic=https://example.com/books/1&id=%23x", pubTok), 400, ""},
		{"publish as JSON", withHeader(publishRequest(`{"topic":"a"}`, pubTok), "Content-Type", "application/json"), 415, ""},
		{"publish over the body limit", publishRequest("topic=https://example.com/books/1&data="+strings.Repeat("x", 1000), pubTok), 413, ""},
		{"subscribe without a token (no anonymous)", subscribeRequest("match=a"), 401, challengePrefix},
		{"subscribe with an expired token", withHeader(subscribeRequest("match=a"), "Authorization", "Bearer "+expiredTok), 401, challengePrefix + `, error="invalid_token"`},
		{"subscribe with no matcher", withHeader(subscribeRequest("topic=a"), "Authorization", "Bearer "+subTok), 400, ""},
		{"subscribe with an unknown matcher type", withHeader(subscribeRequest("match_regexp=a"), "Authorization", "Bearer "+subTok), 400, ""},
		{"subscribe with a control character", withHeader(subscribeRequest("match=a%0Ab"), "Authorization", "Bearer "+subTok), 400, ""},
		{"PUT", httptest.NewRequest(http.MethodPut, DefaultHubURL, nil), 405, ""},
		{"DELETE", httptest.NewRequest(http.MethodDelete, DefaultHubURL, nil), 405, ""},
		{"HEAD", httptest.NewRequest(http.MethodHead, DefaultHubURL+"?match=a", nil), 405, ""},
		{"POST on the metadata", httptest.NewRequest(http.MethodPost, "https://localhost/.well-known/oauth-protected-resource/.well-known/mercure", nil), 405, ""},
		{"a subscription API path (not yet served)", httptest.NewRequest(http.MethodGet, DefaultHubURL+"/subscriptions", nil), 404, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := serve(h, tc.req)
			if w.Code != tc.status {
				t.Fatalf("status %d (%q), want %d", w.Code, w.Body, tc.status)
			}
			if got := w.Header().Get("WWW-Authenticate"); got != tc.challenge {
				t.Fatalf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
			if tc.status != 404 && !strings.HasPrefix(w.Header().Get("Content-Type"), "text/plain") {
				t.Fatalf("Content-Type = %q, want text/plain", w.Header().Get("Content-Type"))
			}
			if tc.status == 405 && w.Header().Get("Allow") == "" {
				t.Fatal("405 without Allow")
			}
		})
	}
	if len(rh.published) != 0 || len(rh.subscribers) != 0 {
		t.Fatalf("refused requests reached the hub: %d publishes, %d subscribes", len(rh.published), len(rh.subscribers))
	}
}

func TestHandler_invalid_token_does_not_say_why(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	c := claims([]string{"publish"}, "*")
	c["exp"] = testNow.Add(-time.Hour).Unix()
	w := serve(h, publishRequest("topic=a", sign(t, c)))
	if strings.Contains(strings.ToLower(w.Body.String()), "expire") || strings.Contains(w.Header().Get("WWW-Authenticate"), "description") {
		t.Fatalf("the answer discloses the failed check: %q %q", w.Header().Get("WWW-Authenticate"), w.Body)
	}
}

func TestHandler_publish_hands_the_update_to_the_hub(t *testing.T) {
	h, rh := newTestHandler(t, nil)
	tok := sign(t, claims([]string{"publish"}, "*"))
	w := serve(h, publishRequest(form("topic", "https://example.com/a", "topic", "b", "data", "l1\r\nl2", "private", "on", "id", "urn:x", "type", "t", "retry", "10"), tok))
	if w.Code != 200 || w.Body.String() != "urn:x" {
		t.Fatalf("got %d %q", w.Code, w.Body)
	}
	u := rh.published[0]
	if len(u.Topics) != 2 || u.Data != "l1\r\nl2" || !u.Private || u.ID != "urn:x" || u.Type != "t" || u.Retry != 10*time.Millisecond {
		t.Fatalf("hub got %+v", u)
	}
}

func TestHandler_hub_errors(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("%w: data too large for the store", ErrTooLarge), 413},
		{fmt.Errorf("%w: nope", ErrBadRequest), 400},
		{fmt.Errorf("%w: store down", ErrUnavailable), 503},
		{fmt.Errorf("%w: over the limit", ErrTooManyRequests), 429},
		{errors.New("disk on fire"), 500},
	} {
		h, rh := newTestHandler(t, nil)
		rh.publishErr = tc.err
		w := serve(h, publishRequest("topic=a", sign(t, claims([]string{"publish"}, "*"))))
		if w.Code != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, w.Code, tc.status)
		}
		if tc.status == 500 && strings.Contains(w.Body.String(), "fire") {
			t.Errorf("internal error text leaked: %q", w.Body)
		}
	}
}

func TestHandler_subscribe_hands_the_subscriber_to_the_hub(t *testing.T) {
	h, rh := newTestHandler(t, nil)
	tok := sign(t, claims([]string{"subscribe"}, "https://example.com/private"))
	r := subscribeRequest("match=a&match_urlpattern=/b/:x&last_event_id=q")
	r.Header.Set("Authorization", "Bearer "+tok)
	w := serve(h, r)
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	if got := w.Header().Get("Mercure-Last-Event-ID"); got != EarliestID {
		t.Fatalf("Mercure-Last-Event-ID = %q, want the stream's", got)
	}
	if got := w.Header().Get("Last-Event-ID"); got != EarliestID {
		t.Fatalf("Last-Event-ID (pre-standardization response field) = %q, want the stream's", got)
	}
	s := rh.subscribers[0]
	if s.LastEventID != "q" || s.Token == nil || len(s.Selector.Matchers()) != 2 {
		t.Fatalf("hub got %+v", s)
	}
	want := testNow.Add(time.Hour).Truncate(time.Second)
	if !s.Expires.Equal(want) || !rh.deadlines[0].Equal(want) {
		t.Fatalf("Expires %v, context deadline %v, want both at the token's exp %v", s.Expires, rh.deadlines[0], want)
	}
	if !s.Allows(NewTarget([]string{"a"}), false) || s.Allows(NewTarget([]string{"a"}), true) {
		t.Fatal("Allows does not apply the token to private updates")
	}

	t.Run("no cursor, no Mercure-Last-Event-ID", func(t *testing.T) {
		r := subscribeRequest("match=a")
		r.Header.Set("Authorization", "Bearer "+tok)
		if w := serve(h, r); w.Header().Values("Mercure-Last-Event-ID") != nil {
			t.Fatal("header set without a cursor")
		}
	})
	t.Run("QUERY", func(t *testing.T) {
		r := httptest.NewRequest(MethodQuery, DefaultHubURL, strings.NewReader("match=a"))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("Authorization", "Bearer "+tok)
		if w := serve(h, r); w.Code != 200 {
			t.Fatalf("QUERY: %d %q", w.Code, w.Body)
		}
	})
}

func TestHandler_anonymous_subscribers_MAY_be_allowed(t *testing.T) {
	h, rh := newTestHandler(t, func(o *Options) { o.Auth.Anonymous = true })
	if w := serve(h, subscribeRequest("match=a")); w.Code != 200 {
		t.Fatalf("anonymous subscribe: %d %q", w.Code, w.Body)
	}
	if s := rh.subscribers[0]; s.Token != nil || !s.Expires.IsZero() || !rh.deadlines[0].IsZero() {
		t.Fatalf("anonymous subscriber got %+v, deadline %v", s, rh.deadlines[0])
	}
	r := subscribeRequest("match=a")
	r.Header.Set("Authorization", "Bearer not.a.token")
	if w := serve(h, r); w.Code != 401 {
		t.Fatalf("an invalid token fell back to anonymous: %d", w.Code)
	}
	if w := serve(h, publishRequest("topic=a", "")); w.Code != 401 {
		t.Fatalf("anonymous publish: %d", w.Code)
	}
}

func TestHandler_cookie_publish_MUST_mitigate_CSRF(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.Auth.PublishOrigins = []string{"https://app.example.com"} })
	tok := sign(t, claims([]string{"publish"}, "*"))
	for _, tc := range []struct {
		name, origin, referer string
		status                int
	}{
		{"the hub's origin", "https://localhost", "", 200},
		{"a listed origin", "https://app.example.com", "", 200},
		{"a listed origin in another case", "https://APP.example.com", "", 200},
		{"a listed origin by Referer", "", "https://app.example.com/page?x", 200},
		{"another origin", "https://evil.example", "", 403},
		{"a suffix trick", "https://app.example.com.evil.example", "", 403},
		{"null origin", "null", "", 403},
		{"another Referer", "", "https://evil.example/", 403},
		{"neither header", "", "", 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := publishRequest("topic=a", "")
			r.AddCookie(&http.Cookie{Name: DefaultCookieName, Value: tok})
			if tc.origin != "" {
				r.Header.Set("Origin", tc.origin)
			}
			if tc.referer != "" {
				r.Header.Set("Referer", tc.referer)
			}
			if w := serve(h, r); w.Code != tc.status {
				t.Fatalf("status %d (%q), want %d", w.Code, w.Body, tc.status)
			}
		})
	}
	t.Run("a header token needs no origin", func(t *testing.T) {
		r := publishRequest("topic=a", tok)
		r.Header.Set("Origin", "https://evil.example")
		if w := serve(h, r); w.Code != 200 {
			t.Fatalf("status %d", w.Code)
		}
	})
}

func TestDiscovery_protected_resource_metadata(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) {
		o.HubURL = "https://hub.example.com/.well-known/mercure"
		o.Auth.AuthorizationServers = []string{"https://as.example.com"}
	})
	r := httptest.NewRequest(http.MethodGet, "https://hub.example.com/.well-known/oauth-protected-resource/.well-known/mercure", nil)
	w := serve(h, r)
	if w.Code != 200 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("got %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	var m map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"resource":                              "https://hub.example.com/.well-known/mercure",
		"authorization_servers":                 []any{"https://as.example.com"},
		"authorization_details_types_supported": []any{AuthorizationDetailType},
		"bearer_methods_supported":              []any{"header"},
		"mercure_cookie":                        DefaultCookieName,
		"mercure_matcher_types_supported":       []any{"exact", "urlpattern"},
	}
	if fmt.Sprint(m) != fmt.Sprint(want) {
		t.Fatalf("metadata = %v\nwant       %v", m, want)
	}
	head := serve(h, httptest.NewRequest(http.MethodHead, r.URL.String(), nil))
	if head.Code != 200 || head.Body.Len() != 0 {
		t.Fatalf("HEAD: %d with %d bytes", head.Code, head.Body.Len())
	}

	t.Run("resource is the audience when configured", func(t *testing.T) {
		h, _ := newTestHandler(t, func(o *Options) { o.Auth.Audience = "https://aud.example.com/.well-known/mercure" })
		if got := h.Metadata().Resource; got != "https://aud.example.com/.well-known/mercure" {
			t.Fatalf("resource = %q", got)
		}
	})
	t.Run("paths derive from the hub URL", func(t *testing.T) {
		for hub, want := range map[string]string{
			"https://h.example/.well-known/mercure": "https://h.example/.well-known/oauth-protected-resource/.well-known/mercure",
			"https://h.example:8443/hub":            "https://h.example:8443/.well-known/oauth-protected-resource/hub",
			"https://h.example/":                    "https://h.example/.well-known/oauth-protected-resource",
			"https://h.example":                     "https://h.example/.well-known/oauth-protected-resource",
		} {
			u, err := ParseHubURL(hub)
			if err != nil {
				t.Fatal(err)
			}
			if got := u.MetadataURL(); got != want {
				t.Errorf("%s: metadata at %s, want %s", hub, got, want)
			}
		}
	})
	t.Run("bad hub URLs", func(t *testing.T) {
		for _, s := range []string{"/.well-known/mercure", "ftp://h/x", "https://u:p@h/x", "https://h/x?q", "https://h/x#f", "https://h/x?", "not a url"} {
			if _, err := ParseHubURL(s); err == nil {
				t.Errorf("ParseHubURL(%q) accepted it", s)
			}
		}
	})
}

func TestDiscovery_Link_header(t *testing.T) {
	for _, tc := range []struct {
		link Link
		want string
	}{
		{Link{Hub: "https://example.com/.well-known/mercure"}, `<https://example.com/.well-known/mercure>; rel="mercure"`},
		{Link{Hub: "https://h/", LastEventID: "urn:uuid:1", ContentType: "application/merge-patch+json", Type: "book"},
			`<https://h/>; rel="mercure"; last-event-id="urn:uuid:1"; content-type="application/merge-patch+json"; type="book"`},
		{Link{Hub: "https://h/", LastEventID: `a"b\c`}, `<https://h/>; rel="mercure"; last-event-id="a\"b\\c"`},
	} {
		got, err := tc.link.Value()
		if err != nil || got != tc.want {
			t.Errorf("%+v: %q, %v; want %q", tc.link, got, err, tc.want)
		}
	}
	for name, l := range map[string]Link{
		"no hub":             {},
		"hub with >":         {Hub: "https://h/>; rel=x"},
		"hub with a space":   {Hub: "https://h/ x"},
		"reserved type":      {Hub: "https://h/", Type: "mercure"},
		"cursor with a LF":   {Hub: "https://h/", LastEventID: "a\nb"},
		"type with a Cf":     {Hub: "https://h/", Type: "a\u200bb"},
		"content-type w/ CR": {Hub: "https://h/", ContentType: "a\rb"},
	} {
		h := http.Header{}
		if err := l.AddTo(h); err == nil || h.Get("Link") != "" {
			t.Errorf("%s: accepted (%q)", name, h.Get("Link"))
		}
	}
}
