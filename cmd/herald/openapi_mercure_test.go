package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/sse"
)

// mercureCases are TestOpenAPIRequests' cases for the Mercure hub's routes
// (/.well-known/mercure and its protected resource metadata), one for each
// answer described, on nodes of their own started with the conformance
// suite's flags: one as is, one allowing a single stream per client (held
// open here), one shut down. The node given, TestOpenAPIRequests' default
// node, does not serve Mercure.
func mercureCases(t *testing.T, _ *servedNode) []apiCase {
	t.Helper()
	m := startServe(t, conformanceFlags...)
	limited := startServe(t, append([]string{"--max-subscribers-per-client", "1"}, conformanceFlags...)...)
	closed := startServe(t, conformanceFlags...)
	closeNode(t, closed)
	mercureSubscribe(t, limited.url, q("match", "*"), nil) // the one stream allowed
	first := mustPublish(t, m.url, update("first", []string{topicA}))
	mustPublish(t, m.url, update("second", []string{topicA}, "type", "book", "id", "urn:uuid:2"))

	// An active subscription, for the subscription API's answers.
	mercureSubscribe(t, m.url, q("match", topicA), bearer(subscriberToken(t, topicA)))
	id := subscriberOf(t, m.url, mercure.Matcher{Type: mercure.MatchExact, Value: topicA})
	byMatch := subsPath + "/exact/" + escape(topicA)
	one := byMatch + "/" + escape(id)
	watch := bearer(watchToken(t))
	noGrant := bearer(subscriberToken(t, topicA))

	form := "application/x-www-form-urlencoded"
	pub := bearer(publisherToken(t))
	tooMany := "data=x" + strings.Repeat("&topic=a", 33)
	return []apiCase{
		{name: "mercure: subscribe and resume", node: m, method: "GET", target: mercurePath + "?" + q("match", topicA), header: http.Header{"Last-Event-Id": {first}}, status: 200, max: 1,
			check: func(t *testing.T, resp *http.Response, _ []byte, evs []sse.Event) {
				if resp.Header.Get("Mercure-Last-Event-ID") != first || len(evs) != 1 || evs[0].ID != "urn:uuid:2" || evs[0].Type != "book" {
					t.Errorf("resume after %s: Mercure-Last-Event-ID %q, events %+v; want it and the second update", first, resp.Header.Get("Mercure-Last-Event-ID"), evs)
				}
			}},
		{name: "mercure: subscribe by URL pattern from the earliest", node: m, method: "GET", target: mercurePath + "?" + q("match_urlpattern", "https://example.com/books/:id", "last_event_id", "earliest"), status: 200, max: 2},
		{name: "mercure: subscribe without a matcher", node: m, method: "GET", target: mercurePath, status: 400},
		{name: "mercure: subscribe with an invalid token", node: m, method: "GET", target: mercurePath + "?" + q("match", "*"), header: bearer("not.a.token"), status: 401},
		{name: "mercure: subscribe beyond --max-subscribers-per-client", node: limited, method: "GET", target: mercurePath + "?" + q("match", "*"), status: 429},
		{name: "mercure: subscribe while shutting down", node: closed, method: "GET", target: mercurePath + "?" + q("match", "*"), status: 503},
		{name: "mercure: publish", node: m, method: "POST", target: mercurePath, header: pub, ctype: form, body: update("x", []string{topicA, "https://example.com/alt"}, "retry", "1000").Encode(), status: 200},
		{name: "mercure: publish on the wildcard", node: m, method: "POST", target: mercurePath, header: pub, ctype: form, body: "topic=*&data=x", status: 400},
		{name: "mercure: publish a retry that is not digits", node: m, method: "POST", target: mercurePath, header: pub, ctype: form, body: "topic=a&retry=-1", status: 400, invalid: true},
		{name: "mercure: publish without a token", node: m, method: "POST", target: mercurePath, ctype: form, body: "topic=a", status: 401, invalid: true},
		{name: "mercure: publish without the grant", node: m, method: "POST", target: mercurePath, header: bearer(subscriberToken(t, "*")), ctype: form, body: "topic=a", status: 403},
		{name: "mercure: publish more than 32 topics", node: m, method: "POST", target: mercurePath, header: pub, ctype: form, body: tooMany, status: 413},
		{name: "mercure: publish JSON", node: m, method: "POST", target: mercurePath, header: pub, ctype: "application/json", body: `{"topic":"a"}`, status: 415, invalid: true},
		{name: "mercure: publish while shutting down", node: closed, method: "POST", target: mercurePath, header: pub, ctype: form, body: "topic=a", status: 503},
		{name: "mercure: protected resource metadata", node: m, method: "GET", target: "/.well-known/oauth-protected-resource" + mercurePath, status: 200},
		{name: "mercure: subscription events from the earliest", node: m, method: "GET", target: mercurePath + "?" + q("match_urlpattern", subsPath+"/*", "last_event_id", "earliest"), header: watch, status: 200, max: 1,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) != 1 || evs[0].Type != mercure.ReservedType {
					t.Errorf("events %+v, want a subscription event", evs)
				}
			}},
		{name: "mercure: active subscriptions", node: m, method: "GET", target: subsPath, header: watch, status: 200},
		{name: "mercure: active subscriptions while shutting down", node: closed, method: "GET", target: subsPath, header: watch, status: 503},
		{name: "mercure: active subscriptions without a token", invalid: true, node: m, method: "GET", target: subsPath, status: 401},
		{name: "mercure: active subscriptions without the grant", node: m, method: "GET", target: subsPath, header: noGrant, status: 403},
		{name: "mercure: a matcher's subscriptions", node: m, method: "GET", target: byMatch, header: watch, status: 200},
		{name: "mercure: a matcher's subscriptions, unknown matcher type", node: m, method: "GET", target: subsPath + "/regex/x", header: watch, status: 400},
		{name: "mercure: a matcher's subscriptions without a token", invalid: true, node: m, method: "GET", target: byMatch, status: 401},
		{name: "mercure: a matcher's subscriptions without the grant", node: m, method: "GET", target: byMatch, header: noGrant, status: 403},
		{name: "mercure: one subscription", node: m, method: "GET", target: one, header: watch, status: 200},
		{name: "mercure: one subscription, unknown matcher type", node: m, method: "GET", target: subsPath + "/regex/x/y", header: watch, status: 400},
		{name: "mercure: one subscription without a token", invalid: true, node: m, method: "GET", target: one, status: 401},
		{name: "mercure: one subscription without the grant", node: m, method: "GET", target: one, header: noGrant, status: 403},
		{name: "mercure: one subscription, double-encoded subscriber", node: m, method: "GET", target: byMatch + "/" + escape(escape(id)), header: watch, status: 404},
	}
}

// isMercurePath reports whether path is the Mercure hub's, its
// metadata's or under its subscription API's, whose errors are plain text (docs/mercure.md, "Errors").
func isMercurePath(path string) bool {
	return strings.HasSuffix(path, mercurePath) || strings.HasPrefix(path, subsPath)
}

// checkMercureErrorBody checks a Mercure error answer: one line of plain
// text.
func checkMercureErrorBody(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") || len(body) == 0 || strings.Count(string(body), "\n") != 1 {
		t.Errorf("%s = %d %q %q; want one line of plain text", what, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}
