package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/mercure"
)

// The Mercure protocol (draft-dunglas-mercure) against herald serve,
// section by section, over real HTTP, with the flags the conformance suite
// runs herald with. Each test is named for the section and the requirement
// (MUST) it covers; the bad inputs each tries are listed in it.

const topicA = "https://example.com/books/1"

// TestMercureDraft_Publication covers "Publication": the form fields
// (topic repeated for alternates, data with several lines, private, id,
// type, retry), the answer (200 text/plain with the update's ID, the
// publisher's kept, an IRI generated otherwise), and that the event is sent
// as an SSE event with those fields and a plain message when no type is given.
func TestMercureDraft_Publication(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	sub := mercureSubscribe(t, base, q("match", topicA, "match", "https://example.com/alt"), nil)

	status, id, resp := mercurePublish(t, base, publisherToken(t), update("line 1\nline 2\r\nline 3\r\n\nend", []string{topicA}))
	if status != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("publish: %d %q", status, resp.Header.Get("Content-Type"))
	}
	if !strings.HasPrefix(id, hub.GeneratedIDPrefix) {
		t.Errorf("generated ID %q, want an IRI (%s...)", id, hub.GeneratedIDPrefix)
	}
	ev := sub.next(t)
	if ev.Data != "line 1\nline 2\nline 3\n\nend" || ev.ID != id || ev.Type != "" {
		t.Errorf("MUST send the update: got %+v, want the data with LF line ends, id %q, no type (a message event)", ev, id)
	}

	own := mustPublish(t, base, update("typed", []string{"https://example.com/other", "https://example.com/alt"}, "id", "urn:uuid:42", "type", "book-updated", "retry", "2500"))
	if own != "urn:uuid:42" {
		t.Errorf("MUST answer the update's ID: %q, want the publisher's urn:uuid:42", own)
	}
	ev = sub.next(t)
	if ev.Data != "typed" || ev.ID != "urn:uuid:42" || ev.Type != "book-updated" || ev.Retry != 2500*time.Millisecond {
		t.Errorf("alternate topic, id, type, retry: got %+v", ev)
	}
}

// TestMercureDraft_Publication_rejections covers what "Publication" says to
// reject, with its status codes. Bad inputs: no topic, the "*" topic, a
// topic in the hub's reserved namespace (plain, percent-encoded, with dot
// segments), the "mercure" type, retry not digits (-1, 1.5, abc), id
// "earliest", id starting with "#", an id of the hub's own form, a topic
// with a control character, a JSON body, no Content-Type.
func TestMercureDraft_Publication_rejections(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	for _, tc := range []struct {
		name string
		form url.Values
	}{
		{"no topic", url.Values{"data": {"x"}}},
		{"topic *", update("x", []string{"*"})},
		{"reserved namespace", update("x", []string{"https://localhost/.well-known/mercure/subscriptions"})},
		{"reserved namespace, relative", update("x", []string{"/.well-known/mercure/x"})},
		{"reserved namespace, encoded", update("x", []string{"/.well-known/%6Dercure/x"})},
		{"reserved namespace, dot segments", update("x", []string{"/a/../.well-known/mercure/x"})},
		{"reserved type", update("x", []string{topicA}, "type", "mercure")},
		{"negative retry", update("x", []string{topicA}, "retry", "-1")},
		{"fractional retry", update("x", []string{topicA}, "retry", "1.5")},
		{"retry not a number", update("x", []string{topicA}, "retry", "abc")},
		{"id earliest", update("x", []string{topicA}, "id", "earliest")},
		{"id fragment", update("x", []string{topicA}, "id", "#1")},
		{"id of the hub's form", update("x", []string{topicA}, "id", hub.GeneratedIDPrefix+"1-1")},
		{"control character in topic", update("x", []string{"a\x01b"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, body, _ := mercurePublish(t, base, publisherToken(t), tc.form); status != http.StatusBadRequest {
				t.Errorf("MUST reject: %d %q, want 400", status, body)
			}
		})
	}
	for _, ct := range []string{"application/json", ""} {
		req, _ := http.NewRequest(http.MethodPost, base+mercurePath, strings.NewReader(`{"topic":"a"}`))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		req.Header.Set("Authorization", "Bearer "+publisherToken(t))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("Content-Type %q: %d, want 415 (the body MUST be a form)", ct, resp.StatusCode)
		}
	}
}

// TestMercureDraft_Authorization covers "Authorization", "Token
// Validation" and "Error Responses": publishing needs a valid token
// granting publish on every topic (401 with a Bearer challenge without
// one, 401 invalid_token for a bad one, 403 insufficient_scope outside its
// grants). Bad tokens: none, wrong key, expired, not yet valid, no exp, no
// typ, typ JWT, wrong iss, wrong aud, alg none, garbage, a subscribe-only
// grant, a grant on another topic.
func TestMercureDraft_Authorization(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	form := update("x", []string{topicA})
	pub := []grant{{[]string{"publish"}, []mercure.Matcher{{Value: "*"}}}}
	claim := func(k string, v any) func(*jwt.Token) {
		return func(tok *jwt.Token) { tok.Claims.(jwt.MapClaims)[k] = v }
	}
	status, _, resp := mercurePublish(t, base, "", form)
	if status != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("no token: %d %q, want 401 with a Bearer challenge", status, resp.Header.Get("WWW-Authenticate"))
	}
	wrongKey, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString([]byte("another key, 32 bytes or more, yes"))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	for name, tok := range map[string]string{
		"wrong key":       wrongKey,
		"alg none":        none,
		"garbage":         "not.a.token",
		"expired":         mercureToken(t, pub, claim("exp", time.Now().Add(-time.Minute).Unix())),
		"not yet valid":   mercureToken(t, pub, claim("nbf", time.Now().Add(time.Hour).Unix())),
		"no exp":          mercureToken(t, pub, func(tok *jwt.Token) { delete(tok.Claims.(jwt.MapClaims), "exp") }),
		"no typ":          mercureToken(t, pub, func(tok *jwt.Token) { delete(tok.Header, "typ") }),
		"typ JWT":         mercureToken(t, pub, func(tok *jwt.Token) { tok.Header["typ"] = "JWT" }),
		"wrong issuer":    mercureToken(t, pub, claim("iss", "https://evil.example")),
		"wrong audience":  mercureToken(t, pub, claim("aud", "https://other.example/.well-known/mercure")),
		"audience absent": mercureToken(t, pub, func(tok *jwt.Token) { delete(tok.Claims.(jwt.MapClaims), "aud") }),
	} {
		status, _, resp := mercurePublish(t, base, tok, form)
		if status != http.StatusUnauthorized || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="invalid_token"`) {
			t.Errorf("%s: %d %q, want 401 invalid_token", name, status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	for name, tok := range map[string]string{
		"subscribe only":   subscriberToken(t, "*"),
		"another topic":    mercureToken(t, []grant{{[]string{"publish"}, []mercure.Matcher{{Value: "https://example.com/books/2"}}}}, nil),
		"one of two":       mercureToken(t, []grant{{[]string{"publish"}, []mercure.Matcher{{Value: topicA}}}}, nil),
		"pattern not met":  mercureToken(t, []grant{{[]string{"publish"}, []mercure.Matcher{{Type: "urlpattern", Value: "https://example.com/authors/:id"}}}}, nil),
		"unknown action":   mercureToken(t, []grant{{[]string{"publish-all"}, []mercure.Matcher{{Value: "*"}}}}, nil),
		"foreign detail":   mercureToken(t, nil, claim("authorization_details", []any{map[string]any{"type": "payment", "actions": []string{"publish"}}})),
		"no details claim": mercureToken(t, nil, func(tok *jwt.Token) { delete(tok.Claims.(jwt.MapClaims), "authorization_details") }),
	} {
		f := form
		if name == "one of two" {
			f = update("x", []string{topicA, "https://example.com/books/2"})
		}
		status, _, resp := mercurePublish(t, base, tok, f)
		if status != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), `error="insufficient_scope"`) {
			t.Errorf("%s: %d %q, want 403 insufficient_scope", name, status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	patternGrant := mercureToken(t, []grant{{[]string{"publish"}, []mercure.Matcher{{Type: "urlpattern", Value: "https://example.com/books/:id"}}}}, nil)
	if status, body, _ := mercurePublish(t, base, patternGrant, form); status != http.StatusOK {
		t.Errorf("a URL pattern grant: %d %q, want 200", status, body)
	}

	// Subscribers: an invalid token is refused even though anonymous
	// subscribers are allowed, so a client learns its token is stale.
	resp = mercureGet(t, base, q("match", topicA), bearer(mercureToken(t, pub, claim("exp", time.Now().Add(-time.Minute).Unix()))))
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("subscribe with an expired token: %d, want 401", resp.StatusCode)
	}
}

// TestMercureDraft_Subscribers covers "Subscribers" and "Presenting the
// Access Token": private updates reach only subscribers whose token grants
// subscribe on one of their topics (exact or URL pattern); anonymous
// subscribers get public ones; the token comes from the Authorization
// header or the cookie, the header winning.
func TestMercureDraft_Subscribers(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	topicB := "https://example.com/books/2"
	match := q("match", topicA, "match", topicB)
	anon := mercureSubscribe(t, base, match, nil)
	allowed := mercureSubscribe(t, base, match, bearer(subscriberToken(t, topicA)))
	pattern := mercureSubscribe(t, base, match, bearer(mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Type: "urlpattern", Value: "https://example.com/books/:id"}}}}, nil)))
	other := mercureSubscribe(t, base, match, bearer(subscriberToken(t, "https://example.com/authors/1")))
	cookie := mercureSubscribe(t, base, match, http.Header{"Cookie": {mercure.DefaultCookieName + "=" + subscriberToken(t, topicA)}})

	mustPublish(t, base, update("private A", []string{topicA}, "private", "on"))
	mustPublish(t, base, update("private B", []string{topicB}, "private", "on"))
	mustPublish(t, base, update("public", []string{topicB}))
	for name, tc := range map[string]struct {
		s    *mercureStream
		want []string
	}{
		"anonymous":                   {anon, []string{"public"}},
		"grant on A":                  {allowed, []string{"private A", "public"}},
		"grant by URL pattern":        {pattern, []string{"private A", "private B", "public"}},
		"grant on another topic":      {other, []string{"public"}},
		"grant on A, from the cookie": {cookie, []string{"private A", "public"}},
	} {
		if got := tc.s.datas(t, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s received %q, want %q", name, got, tc.want)
		}
	}

	// The header wins over the cookie, even when the header's token is
	// invalid.
	h := http.Header{"Cookie": {mercure.DefaultCookieName + "=" + subscriberToken(t, topicA)}, "Authorization": {"Bearer not.a.token"}}
	if resp := mercureGet(t, base, match, h); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("invalid header with a valid cookie: %d, want 401", resp.StatusCode)
	}
}

// TestMercureDraft_Subscription covers "Subscription" and "Matcher Types":
// exact matchers (match, match_exact), URL patterns, the "*" wildcard, and
// the rejections. Bad requests: no matcher, an unknown match_ parameter, a
// pattern that does not compile, a control character in a matcher.
func TestMercureDraft_Subscription(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	exact := mercureSubscribe(t, base, q("match_exact", topicA), nil)
	pattern := mercureSubscribe(t, base, q("match_urlpattern", "https://example.com/books/:id"), nil)
	relative := mercureSubscribe(t, base, q("match_urlpattern", "/books/*"), nil)
	all := mercureSubscribe(t, base, q("match", "*"), nil)

	mustPublish(t, base, update("book 1", []string{topicA}))
	mustPublish(t, base, update("book 2", []string{"https://example.com/books/2"}))
	mustPublish(t, base, update("relative", []string{"/books/3"}))
	mustPublish(t, base, update("author", []string{"https://example.com/authors/1"}))
	mustPublish(t, base, update("end", []string{topicA}))
	for name, tc := range map[string]struct {
		s    *mercureStream
		want []string
	}{
		"match_exact":          {exact, []string{"book 1", "end"}},
		"match_urlpattern":     {pattern, []string{"book 1", "book 2", "end"}},
		"relative URL pattern": {relative, []string{"relative"}},
		"the wildcard":         {all, []string{"book 1", "book 2", "relative", "author", "end"}},
	} {
		if got := tc.s.datas(t, len(tc.want)); !slices.Equal(got, tc.want) {
			t.Errorf("%s received %q, want %q", name, got, tc.want)
		}
	}
	for _, bad := range []string{"", q("match_regex", "x"), q("Match", "x"), q("match_urlpattern", "/(?=a)"), q("match", "a\x01")} {
		if resp := mercureGet(t, base, bad, nil); resp.StatusCode != http.StatusBadRequest {
			t.Errorf("subscribe ?%s: %d, want 400", bad, resp.StatusCode)
		}
	}
}

// TestMercureDraft_Reconnection covers "Reconnection, State Reconciliation,
// and Event Sourcing": resuming after an ID from the Last-Event-ID header or
// the last_event_id parameter (the header winning), earliest, an unknown ID,
// a repeated ID naming its earliest update, an ID of another topic, the
// Mercure-Last-Event-ID response field, and private updates re-checked
// against the current token on replay.
func TestMercureDraft_Reconnection(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	first := mustPublish(t, base, update("1", []string{topicA}))
	mustPublish(t, base, update("2", []string{topicA}, "id", "dup"))
	mustPublish(t, base, update("other topic", []string{"https://example.com/x"}, "id", "x1"))
	mustPublish(t, base, update("3", []string{topicA}))
	mustPublish(t, base, update("private", []string{topicA}, "private", "1"))
	mustPublish(t, base, update("4", []string{topicA}, "id", "dup"))

	match := q("match", topicA)
	for _, tc := range []struct {
		name       string
		query      string
		header     http.Header
		want       []string
		lastHeader string
	}{
		{"Last-Event-ID header", match, http.Header{"Last-Event-ID": {first}}, []string{"2", "3", "4"}, first},
		{"last_event_id parameter", match + "&" + q("last_event_id", first), nil, []string{"2", "3", "4"}, first},
		{"the header wins", match + "&" + q("last_event_id", "dup"), http.Header{"Last-Event-ID": {first}}, []string{"2", "3", "4"}, first},
		{"a repeated ID names the earliest", match, http.Header{"Last-Event-ID": {"dup"}}, []string{"3", "4"}, "dup"},
		{"an ID of another topic", match, http.Header{"Last-Event-ID": {"x1"}}, []string{"3", "4"}, "x1"},
		{"earliest", match + "&" + q("last_event_id", mercure.EarliestID), nil, []string{"1", "2", "3", "4"}, mercure.EarliestID},
		{"unknown", match, http.Header{"Last-Event-ID": {"nobody"}}, []string{"1", "2", "3", "4"}, mercure.EarliestID},
		{"replayed private updates with a token", match + "&" + q("last_event_id", first), bearer(subscriberToken(t, topicA)), []string{"2", "3", "private", "4"}, first},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := mercureSubscribe(t, base, tc.query, tc.header)
			if got := s.resp.Header.Get("Mercure-Last-Event-ID"); got != tc.lastHeader {
				t.Errorf("Mercure-Last-Event-ID = %q, want %q", got, tc.lastHeader)
			}
			if got := s.datas(t, len(tc.want)); !slices.Equal(got, tc.want) {
				t.Errorf("replayed %q, want %q", got, tc.want)
			}
		})
	}
	if s := mercureSubscribe(t, base, match, nil); s.resp.Header.Values("Mercure-Last-Event-ID") != nil {
		t.Error("Mercure-Last-Event-ID set without a cursor")
	}
}

// TestMercureDraft_token_expiry covers "Token Validation": a stream opened
// with a token ends when the token expires.
func TestMercureDraft_token_expiry(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	tok := mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: "*"}}}}, func(tok *jwt.Token) {
		tok.Claims.(jwt.MapClaims)["exp"] = time.Now().Add(1500 * time.Millisecond).Unix()
	})
	s := mercureSubscribe(t, n.ts.URL, q("match", topicA), bearer(tok))
	start := time.Now()
	for {
		if _, err := s.dec.Next(); err != nil {
			break // the stream ended
		}
	}
	if time.Since(start) > 15*time.Second { // the request's own limit is 20 s
		t.Fatal("the stream outlived its token")
	}
	n.waitSubscribers(t, 0)
}

// TestMercureDraft_Discovery covers "Discovery" and "Protected Resource
// Metadata": the metadata document at its well-known URL, naming the
// resource (the configured audience), the authorization detail type, the
// matcher types and the cookie; and the Link header an application sends.
func TestMercureDraft_Discovery(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	resp, err := http.Get(n.ts.URL + "/.well-known/oauth-protected-resource" + mercurePath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md mercure.Metadata
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || resp.StatusCode != 200 {
		t.Fatalf("metadata: %d %v", resp.StatusCode, err)
	}
	if md.Resource != mercureAudience || !slices.Contains(md.AuthorizationDetailsTypesSupported, mercure.AuthorizationDetailType) ||
		!slices.Equal(md.MercureMatcherTypesSupported, []string{"exact", "urlpattern"}) || md.MercureCookie == "" {
		t.Errorf("metadata %+v", md)
	}
	link, err := mercure.Link{Hub: mercureAudience, LastEventID: "urn:uuid:1"}.Value()
	if err != nil || link != `<https://localhost/.well-known/mercure>; rel="mercure"; last-event-id="urn:uuid:1"` {
		t.Errorf("Link = %q, %v", link, err)
	}
}
