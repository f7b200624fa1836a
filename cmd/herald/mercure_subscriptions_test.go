package main

import (
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/mercure"
)

// The draft's "Active Subscriptions" on herald serve: subscription events
// and the subscription API (docs/mercure.md, "Active subscriptions").

const subsPath = mercurePath + "/subscriptions"

// watchToken grants subscribe on every subscription event and API URL
// (a relative URL pattern, resolved against the hub URL) and on topics.
func watchToken(t testing.TB, topics ...string) string {
	ms := []mercure.Matcher{{Type: mercure.MatchURLPattern, Value: subsPath + "/*"}, {Value: subsPath}}
	for _, tp := range topics {
		ms = append(ms, mercure.Matcher{Value: tp})
	}
	return mercureToken(t, []grant{{[]string{"subscribe"}, ms}}, nil)
}

// payloadToken grants subscribe on topic with the payload p.
func payloadToken(t testing.TB, topic string, p any) string {
	return mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: topic}}}}, func(tok *jwt.Token) {
		d := tok.Claims.(jwt.MapClaims)["authorization_details"].([]any)
		d[0].(map[string]any)["payload"] = p
	})
}

// nextSubscriptionEvent reads events of s until a subscription event about
// subscriber (any when empty), and returns its document.
func (s *mercureStream) nextSubscriptionEvent(t testing.TB, subscriber string) mercure.Subscription {
	t.Helper()
	for {
		ev := s.next(t)
		if ev.Type != mercure.ReservedType {
			t.Fatalf("event %q of type %q, want a subscription event (type %q)", ev.Data, ev.Type, mercure.ReservedType)
		}
		var doc mercure.Subscription
		if err := json.Unmarshal([]byte(ev.Data), &doc); err != nil {
			t.Fatalf("subscription event %q: %v", ev.Data, err)
		}
		if subscriber == "" || doc.Subscriber == subscriber {
			return doc
		}
	}
}

// subsGet asks the subscription API at path (escaped, under the hub path)
// with the token tok (none when empty) and returns the status, body and
// header.
func subsGet(t testing.TB, base, path, tok string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

// subsCollection asks for a collection and decodes it, failing unless 200.
func subsCollection(t testing.TB, base, path, tok string) (mercure.Subscriptions, http.Header) {
	t.Helper()
	status, body, h := subsGet(t, base, path, tok)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, status, body)
	}
	var out mercure.Subscriptions
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, body)
	}
	return out, h
}

// subscriberOf returns the ID of the only subscription of the collection
// at path whose matcher is m.
func subscriberOf(t testing.TB, base string, m mercure.Matcher) string {
	t.Helper()
	path := subsPath + "/" + m.Type + "/" + escape(m.Value)
	c, _ := subsCollection(t, base, path, watchToken(t))
	if len(c.Subscriptions) != 1 {
		t.Fatalf("GET %s: %d subscriptions, want 1: %+v", path, len(c.Subscriptions), c.Subscriptions)
	}
	return c.Subscriptions[0].Subscriber
}

// escape percent-encodes every byte but the unreserved ones, as the draft
// asks of the API's variables.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-._~", c) >= 0 {
			b.WriteByte(c)
		} else {
			b.WriteString("%" + strings.ToUpper(strconv.FormatUint(uint64(c)|0x100, 16)[1:]))
		}
	}
	return b.String()
}

// TestMercureSubscriptions_events: a subscription's start and end are
// announced to a watcher whose token grants the subscription events, as
// the draft's document on the draft's topic, private (a watcher without the
// grant, and an anonymous one, get nothing), under the SSE type "mercure";
// and the API lists it meanwhile.
func TestMercureSubscriptions_events(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	subscriptionsScenario(t, n.ts.URL, n.ts.URL)
}

// TestMercureSubscriptions_twoNodesOnRedis: a subscription on node A is
// listed by node B's API and its events reach a watcher on node B.
func TestMercureSubscriptions_twoNodesOnRedis(t *testing.T) {
	addr := testenv.StartRedis(t)
	args := append([]string{"--store", redisStore(t, addr), "--redis-stream", "herald:mercuresubs:" + strconv.FormatInt(time.Now().UnixNano(), 36)}, conformanceFlags...)
	a, b := startNode(t, args...), startNode(t, args...)
	subscriptionsScenario(t, a.ts.URL, b.ts.URL)
}

// subscriptionsScenario subscribes on subURL and watches on watchURL.
func subscriptionsScenario(t *testing.T, subURL, watchURL string) {
	const topic = "https://example.com/books/1"
	const sentinel = "https://example.com/sentinel"
	watchAll := q("match_urlpattern", subsPath+"/*", "match", sentinel)
	watcher := mercureSubscribe(t, watchURL, watchAll, bearer(watchToken(t, sentinel)))
	// Same matchers, no grant on the events: a token for other topics, and
	// none at all.
	blind := mercureSubscribe(t, watchURL, watchAll, bearer(subscriberToken(t, topic, sentinel)))
	anon := mercureSubscribe(t, watchURL, watchAll, nil)

	sub := mercureSubscribe(t, subURL, q("match", topic), bearer(payloadToken(t, topic, map[string]any{"user": "ada"})))
	var join mercure.Subscription
	for join.Match != topic {
		join = watcher.nextSubscriptionEvent(t, "") // the watchers' own joins come first
	}
	if !strings.HasPrefix(join.Subscriber, "urn:uuid:") {
		t.Errorf("subscriber %q: want a hub-generated urn:uuid:", join.Subscriber)
	}
	wantID := subsPath + "/exact/https%3A%2F%2Fexample.com%2Fbooks%2F1/" + escape(join.Subscriber)
	if join.ID != wantID || join.Type != "subscription" || join.MatchType != "exact" || !join.Active || string(join.Payload) != `{"user":"ada"}` {
		t.Errorf("join event %+v, want id %s, type subscription, match_type exact, active, payload {\"user\":\"ada\"}", join, wantID)
	}

	// Listed on the watcher's node, in the collection, the matcher's
	// collection and on its own, with the cursor on the Link header. A
	// shared registry is written in the background: another node may list
	// the subscription a moment after its event arrives.
	waitSubscription(t, watchURL, join.ID)
	all, h := subsCollection(t, watchURL, subsPath, watchToken(t))
	if all.ID != subsPath || all.Type != "subscriptions" || all.Context != mercure.SubscriptionsContext || !containsDoc(all.Subscriptions, join) {
		t.Errorf("collection %+v lacks %+v", all, join)
	}
	link := h.Get("Link")
	if !strings.Contains(link, `rel="mercure"`) || !strings.Contains(link, `last-event-id="`+all.LastEventID+`"`) ||
		!strings.Contains(link, `type="mercure"`) || !strings.Contains(link, `content-type="application/json"`) || all.LastEventID == "" {
		t.Errorf("Link %q, lastEventID %q: want rel, last-event-id, type and content-type", link, all.LastEventID)
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	byMatch, _ := subsCollection(t, watchURL, subsPath+"/exact/"+escape(topic), watchToken(t))
	if len(byMatch.Subscriptions) != 1 || byMatch.Subscriptions[0].ID != join.ID {
		t.Errorf("matcher's collection %+v, want just %s", byMatch.Subscriptions, join.ID)
	}
	status, body, _ := subsGet(t, watchURL, join.ID, watchToken(t))
	var one mercure.Subscription
	if status != http.StatusOK || json.Unmarshal(body, &one) != nil || one.ID != join.ID || string(one.Payload) != `{"user":"ada"}` {
		t.Errorf("GET %s: %d %s", join.ID, status, body)
	}

	// The watchers without the grant saw none of it: the first event they
	// get is the sentinel, published after the join.
	mustPublish(t, subURL, update("after", []string{sentinel}))
	for name, s := range map[string]*mercureStream{"token without the grant": blind, "anonymous": anon} {
		if ev := s.next(t); ev.Data != "after" {
			t.Errorf("%s: got %q (type %q) before the sentinel", name, ev.Data, ev.Type)
		}
	}
	for ev := watcher.next(t); ev.Data != "after"; ev = watcher.next(t) {
		// Other watchers' joins, from another node, may come in any
		// order with the subscription's.
		if ev.Type != mercure.ReservedType || strings.Contains(ev.Data, join.Subscriber) {
			t.Fatalf("watcher: got %q (type %q) before the sentinel", ev.Data, ev.Type)
		}
	}

	// The end.
	sub.resp.Body.Close()
	leave := watcher.nextSubscriptionEvent(t, join.Subscriber)
	if leave.Active || leave.ID != join.ID {
		t.Errorf("leave event %+v, want %s inactive", leave, join.ID)
	}
	waitSubscription(t, watchURL, "")
	if status, body, _ := subsGet(t, watchURL, join.ID, watchToken(t)); status != http.StatusNotFound {
		t.Errorf("GET %s after its end: %d %s, want 404", join.ID, status, body)
	}
}

// waitSubscription waits until the API of base lists the subscription id
// under its matcher, or (id empty) lists no subscription to
// https://example.com/books/1.
func waitSubscription(t *testing.T, base, id string) {
	t.Helper()
	path := subsPath + "/exact/" + escape("https://example.com/books/1")
	deadline := time.Now().Add(10 * time.Second) // bounds a failure only
	for {
		c, _ := subsCollection(t, base, path, watchToken(t))
		if id == "" && len(c.Subscriptions) == 0 || len(c.Subscriptions) == 1 && c.Subscriptions[0].ID == id {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s%s: %+v, want %q", base, path, c.Subscriptions, id)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func containsDoc(docs []mercure.Subscription, d mercure.Subscription) bool {
	for _, x := range docs {
		if x.ID == d.ID && x.Active && string(x.Payload) == string(d.Payload) {
			return true
		}
	}
	return false
}

// TestMercureSubscriptions_API_refusals: the API needs a token granting
// subscribe on the requested URL (401, 403), and answers 400 or 404 to
// paths that name nothing.
func TestMercureSubscriptions_API_refusals(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	base := n.ts.URL
	const topic = "https://example.com/books/1"
	mercureSubscribe(t, base, q("match", topic), bearer(subscriberToken(t, topic)))
	id := subscriberOf(t, base, mercure.Matcher{Type: "exact", Value: topic})
	one := subsPath + "/exact/" + escape(topic) + "/" + escape(id)

	for _, c := range []struct{ name, path, tok string }{
		{"no token", subsPath, ""},
		{"no token, one subscription", one, ""},
		{"invalid token", subsPath, watchToken(t) + "x"},
		{"expired token", subsPath, mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: "*"}}}}, func(tok *jwt.Token) {
			tok.Claims.(jwt.MapClaims)["exp"] = time.Now().Add(-time.Hour).Unix()
		})},
	} {
		if status, body, h := subsGet(t, base, c.path, c.tok); status != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: %d %q %s, want 401 with a Bearer challenge", c.name, status, h.Get("WWW-Authenticate"), body)
		}
	}
	onlyOne := mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: one}}}}, nil)
	for _, c := range []struct{ name, path, tok string }{
		{"grant on the topic, not the API", subsPath, subscriberToken(t, topic)},
		{"publish grant only", subsPath, publisherToken(t)},
		{"exact grant on one subscription, asking the collection", subsPath, onlyOne},
		{"exact grant on one subscription, asking its matcher's", subsPath + "/exact/" + escape(topic), onlyOne},
		{"exact grant on the collection path, asking a subscription", one, subscriberToken(t, subsPath)},
	} {
		if status, body, h := subsGet(t, base, c.path, c.tok); status != http.StatusForbidden || !strings.Contains(h.Get("WWW-Authenticate"), "insufficient_scope") {
			t.Errorf("%s: %d %s, want 403 insufficient_scope", c.name, status, body)
		}
	}
	if status, body, _ := subsGet(t, base, one, onlyOne); status != http.StatusOK {
		t.Errorf("exact grant on the subscription's URL: %d %s, want 200", status, body)
	}
	if status, body, _ := subsGet(t, base, one, mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: "*"}}}}, nil)); status != http.StatusOK {
		t.Errorf("wildcard grant: %d %s, want 200", status, body)
	}

	tok := watchToken(t)
	doubly := subsPath + "/exact/" + escape(escape(topic))
	for _, c := range []struct {
		name, path string
		want       int
	}{
		{"unknown matcher type", subsPath + "/regex/" + escape(topic), http.StatusBadRequest},
		{"matcher type in another case", subsPath + "/EXACT/" + escape(topic), http.StatusBadRequest},
		{"matcher type URLPattern", subsPath + "/URLPattern/" + escape(topic), http.StatusBadRequest},
		{"control character", subsPath + "/exact/a%0Ab", http.StatusBadRequest},
		{"matcher type only", subsPath + "/exact", http.StatusNotFound},
		{"too many segments", one + "/extra", http.StatusNotFound},
		{"unencoded matcher (its slashes are segments)", subsPath + "/exact/https://example.com/books/1/" + escape(id), http.StatusNotFound},
		{"double-encoded matcher, one subscription", doubly + "/" + escape(id), http.StatusNotFound},
		{"double-encoded subscriber", subsPath + "/exact/" + escape(topic) + "/" + escape(escape(id)), http.StatusNotFound},
		{"unknown subscriber", subsPath + "/exact/" + escape(topic) + "/urn%3Auuid%3A00000000-0000-4000-8000-000000000000", http.StatusNotFound},
		{"subscriber with another matcher", subsPath + "/urlpattern/" + escape(topic) + "/" + escape(id), http.StatusNotFound},
		{"path past the prefix", subsPath + "x", http.StatusNotFound},
	} {
		if status, body, _ := subsGet(t, base, c.path, tok); status != c.want {
			t.Errorf("%s (%s): %d %s, want %d", c.name, c.path, status, body, c.want)
		}
	}
	// A double-encoded matcher names another matcher, which no one uses: its
	// collection is empty.
	if c, _ := subsCollection(t, base, doubly, tok); len(c.Subscriptions) != 0 {
		t.Errorf("double-encoded matcher's collection: %+v, want none", c.Subscriptions)
	}
	req, _ := http.NewRequest(http.MethodPost, base+subsPath, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %v %v, want 405", resp, err)
	} else {
		resp.Body.Close()
	}

	// The metadata advertises the feature.
	status, body, _ := subsGet(t, base, "/.well-known/oauth-protected-resource"+mercurePath, "")
	var md mercure.Metadata
	if status != http.StatusOK || json.Unmarshal(body, &md) != nil || !md.MercureSubscriptions {
		t.Errorf("metadata: %d %s, want mercure_subscriptions true", status, body)
	}
}

// TestMercureSubscriptions_presenceOff: without presence there is no
// subscription API, and the metadata does not advertise it.
func TestMercureSubscriptions_presenceOff(t *testing.T) {
	n := startNode(t, append([]string{"--presence=false"}, conformanceFlags...)...)
	if status, body, _ := subsGet(t, n.ts.URL, subsPath, watchToken(t)); status != http.StatusNotFound {
		t.Errorf("GET %s with presence off: %d %s, want 404", subsPath, status, body)
	}
	_, body, _ := subsGet(t, n.ts.URL, "/.well-known/oauth-protected-resource"+mercurePath, "")
	if strings.Contains(string(body), "mercure_subscriptions") {
		t.Errorf("metadata %s advertises subscriptions", body)
	}
}

// TestMercureSubscriptions_longMatcher: a matcher whose event topic is
// longer than a herald topic may be (it travels under its hash, with its
// text in carrier topics) is announced and listed like any other, and
// a URL pattern's too.
func TestMercureSubscriptions_longMatcher(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	long := "https://example.com/" + strings.Repeat("chapter/", 40) + "1"
	pattern := "https://example.com/books/:id"
	watcher := mercureSubscribe(t, n.ts.URL, q("match_urlpattern", subsPath+"/*"), bearer(watchToken(t)))
	tok := mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: long}, {Type: mercure.MatchURLPattern, Value: pattern}}}}, nil)
	mercureSubscribe(t, n.ts.URL, q("match", long, "match_urlpattern", pattern), bearer(tok))
	got := map[string]mercure.Subscription{}
	for len(got) < 2 {
		if doc := watcher.nextSubscriptionEvent(t, ""); doc.Match == long || doc.Match == pattern {
			got[doc.Match] = doc
		}
	}
	for _, m := range []mercure.Matcher{{Type: mercure.MatchExact, Value: long}, {Type: mercure.MatchURLPattern, Value: pattern}} {
		doc := got[m.Value]
		want := subsPath + "/" + m.Type + "/" + escape(m.Value) + "/" + escape(doc.Subscriber)
		if doc.ID != want || doc.MatchType != m.Type || !doc.Active {
			t.Errorf("event for %s: %+v, want id %s", m.Value, doc, want)
		}
		if id := subscriberOf(t, n.ts.URL, m); id != doc.Subscriber {
			t.Errorf("listed under %s: %s, want %s", m.Value, id, doc.Subscriber)
		}
	}
	if got[long].Subscriber != got[pattern].Subscriber {
		t.Errorf("one connection, two subscriber IDs: %s, %s", got[long].Subscriber, got[pattern].Subscriber)
	}
}

// TestMercureSubscriptions_killedNode: the Mercure subscriptions of a
// SIGKILLed node are announced ended on the other nodes (active false), and
// leave their API, within the presence bound (TTL + check, shortened here
// to 750 ms + 250 ms) and slack for a loaded machine.
func TestMercureSubscriptions_killedNode(t *testing.T) {
	timings := presenceTimings{ttl: 750 * time.Millisecond, check: 250 * time.Millisecond}
	addr := testenv.StartRedis(t)
	store := redisStore(t, addr)
	b := startNodeWith(t, timings, append([]string{"--store", store}, conformanceFlags...)...)
	c := startNodeWith(t, timings, append([]string{"--store", store}, conformanceFlags...)...)
	watcher := mercureSubscribe(t, b.ts.URL, q("match_urlpattern", subsPath+"/*"), bearer(watchToken(t)))

	childURL, _, kill := startChild(t, timings, store, conformanceFlags...)
	const topic = "https://example.com/books/1"
	mercureSubscribe(t, childURL, q("match", topic), bearer(subscriberToken(t, topic)))
	var join mercure.Subscription
	for join.Match != topic {
		join = watcher.nextSubscriptionEvent(t, "")
	}
	waitSubscription(t, c.ts.URL, join.ID)

	kill()
	start := time.Now()
	leave := watcher.nextSubscriptionEvent(t, join.Subscriber)
	took := time.Since(start)
	if leave.Active || leave.ID != join.ID {
		t.Errorf("on B after the kill: %+v, want %s inactive", leave, join.ID)
	}
	t.Logf("the killed node's Mercure subscription announced ended after %v (bound %v)", took, timings.ttl+timings.check)
	if bound := timings.ttl + timings.check + 3*time.Second; took > bound {
		t.Errorf("announced ended after %v, beyond %v", took, bound)
	}
	for _, n := range []*testNode{b, c} {
		waitSubscription(t, n.ts.URL, "")
	}
}

// TestMercureSubscriptions_CORS: a page of a listed origin can read the
// API's Link header, which carries the cursor (the draft: the hub MUST
// expose it to cross-origin subscribers).
func TestMercureSubscriptions_CORS(t *testing.T) {
	const origin = "https://app.example"
	n := startNode(t, append([]string{"--cors-origins", origin}, conformanceFlags...)...)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, n.ts.URL+subsPath, nil)
	req.Header.Set("Origin", origin)
	req.Header.Set("Authorization", "Bearer "+watchToken(t))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	exposed := strings.Split(resp.Header.Get("Access-Control-Expose-Headers"), ", ")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Access-Control-Allow-Origin") != origin || !slices.Contains(exposed, "Link") {
		t.Errorf("GET %s from %s: %d, Allow-Origin %q, Expose-Headers %q; want 200, the origin, Link exposed", subsPath, origin, resp.StatusCode,
			resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Expose-Headers"))
	}
}
