package main

import (
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/sse"
)

// TestMercureOnEveryStore runs what a Mercure client written against the
// reference hub does, on each store herald serve offers: memory, bolt, and
// two nodes sharing a real Redis (publishing on one, subscribing on the
// other, and resuming on the first). Publish with alternate topics and a
// topic too long for a herald topic; subscribe with both matcher types;
// private updates to the granted subscriber only; replay with
// Last-Event-ID, whose updates keep their IDs.
func TestMercureOnEveryStore(t *testing.T) {
	stores := []struct {
		name  string
		nodes func(t *testing.T) (pub, sub *testNode)
	}{
		{"memory", func(t *testing.T) (*testNode, *testNode) {
			n := startNode(t, conformanceFlags...)
			return n, n
		}},
		{"bolt", func(t *testing.T) (*testNode, *testNode) {
			n := startNode(t, append([]string{"--store", "bolt:" + filepath.Join(t.TempDir(), "events.db")}, conformanceFlags...)...)
			return n, n
		}},
		{"two nodes on redis", func(t *testing.T) (*testNode, *testNode) {
			addr := testenv.StartRedis(t)
			args := append([]string{"--store", redisStore(t, addr), "--redis-stream", "herald:mercure:" + strconv.FormatInt(time.Now().UnixNano(), 36)}, conformanceFlags...)
			return startNode(t, args...), startNode(t, args...)
		}},
	}
	for _, st := range stores {
		t.Run(st.name, func(t *testing.T) {
			pub, sub := st.nodes(t)
			mercureScenario(t, pub.ts.URL, sub.ts.URL)
		})
	}
}

// mercureScenario publishes on pubURL and subscribes on subURL.
func mercureScenario(t *testing.T, pubURL, subURL string) {
	long := "https://example.com/books/" + strings.Repeat("long/", 100) + "1"
	books := q("match_urlpattern", "https://example.com/books/*")
	exact := mercureSubscribe(t, subURL, q("match", topicA, "match", long), nil)
	pattern := mercureSubscribe(t, subURL, books, bearer(subscriberToken(t, long)))

	before := mustPublish(t, pubURL, update("before", []string{"https://example.com/authors/1"}))
	var ids []string
	for _, u := range []struct {
		data    string
		topics  []string
		private bool
	}{
		{"public A", []string{topicA}, false},
		{"private A", []string{topicA}, true},
		{"alternate long", []string{"https://example.com/authors/2", long}, false},
		{"private long", []string{long}, true},
	} {
		f := update(u.data, u.topics, "id", "urn:uuid:"+strconv.Itoa(len(ids)))
		if u.private {
			f.Set("private", "on")
		}
		ids = append(ids, mustPublish(t, pubURL, f))
	}
	if got, want := exact.datas(t, 2), []string{"public A", "alternate long"}; !slices.Equal(got, want) {
		t.Errorf("anonymous exact subscriber received %q, want %q", got, want)
	}
	want := []string{"public A", "alternate long", "private long"}
	var got, gotIDs []string
	for range want {
		ev := pattern.next(t)
		got, gotIDs = append(got, ev.Data), append(gotIDs, ev.ID)
	}
	if !slices.Equal(got, want) || !slices.Equal(gotIDs, []string{ids[0], ids[2], ids[3]}) {
		t.Errorf("URL-pattern subscriber with a grant on the long topic received %q %q, want %q with their IDs", got, gotIDs, want)
	}

	// Resume on the publishing node (another node, on Redis) after the
	// update before them all, on another topic.
	h := bearer(subscriberToken(t, long))
	h.Set("Last-Event-ID", before)
	replay := mercureSubscribe(t, pubURL, books, h)
	if got := replay.resp.Header.Get("Mercure-Last-Event-ID"); got != before {
		t.Errorf("Mercure-Last-Event-ID = %q, want %q", got, before)
	}
	got = replay.datas(t, len(want))
	if !slices.Equal(got, want) {
		t.Errorf("replay after %s: %q, want %q", before, got, want)
	}
	earliest := mercureSubscribe(t, subURL, q("match", topicA, "last_event_id", mercure.EarliestID), nil)
	if got := earliest.datas(t, 1); got[0] != "public A" {
		t.Errorf("earliest: %q, want the first public update", got)
	}
}

// TestMercureNamespaceOnEvents checks how /events sees the Mercure
// namespace (docs/topics.md): publishing into it is refused, subscribing
// to it gets the public updates under their herald names, never private
// ones.
func TestMercureNamespaceOnEvents(t *testing.T) {
	n := startNode(t, conformanceFlags...)
	for _, topic := range []string{"mercure/x", "mercure/https:%2F%2Fexample.com%2Fbooks%2F1"} {
		if _, status := n.publish(t, topic, "forged"); status != 400 {
			t.Errorf("POST /events to %s: %d, want 400", topic, status)
		}
	}
	dec := n.subscribe(t, t.Context(), "/events?topic=mercure/*", "")
	mustPublish(t, n.ts.URL, update("private", []string{topicA}, "private", "on"))
	id := mustPublish(t, n.ts.URL, update("public", []string{topicA}))
	ev, err := dec.Next()
	if err != nil {
		t.Fatal(err)
	}
	if ev.Data != "public" || "urn:herald:"+ev.ID != id {
		t.Errorf("/events on mercure/* received %+v, want the public update with its log ID (%s)", ev, id)
	}
}

// TestMercureHTTP2 subscribes and publishes over HTTP/2 (TLS): the stream
// stays in its handler, written by the engine from there, with the
// response fields, replay and live updates as over HTTP/1.1; and a token's
// expiry ends it there too.
func TestMercureHTTP2(t *testing.T) {
	certFile, keyFile, pool := writeCert(t, t.TempDir())
	n := startServe(t, append([]string{"--tls-cert", certFile, "--tls-key", keyFile}, conformanceFlags...)...)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	publish := func(data string) string {
		req, _ := http.NewRequest(http.MethodPost, n.url+mercurePath, strings.NewReader(update(data, []string{topicA}).Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Authorization", "Bearer "+publisherToken(t))
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
			t.Fatalf("publish over %s: %d %q", resp.Proto, resp.StatusCode, b)
		}
		return string(b)
	}
	first := publish("first")
	publish("second")

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+mercurePath+"?"+q("match", topicA, "last_event_id", first), nil)
	tok := mercureToken(t, []grant{{[]string{"subscribe"}, []mercure.Matcher{{Value: "*"}}}}, func(tok *jwt.Token) {
		tok.Claims.(jwt.MapClaims)["exp"] = time.Now().Add(2 * time.Second).Unix()
	})
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK || resp.Header.Get("Mercure-Last-Event-ID") != first {
		t.Fatalf("subscribe: %s %d, Mercure-Last-Event-ID %q; want HTTP/2 200 and %q", resp.Proto, resp.StatusCode, resp.Header.Get("Mercure-Last-Event-ID"), first)
	}
	s := &mercureStream{resp: resp, dec: sse.NewDecoder(resp.Body)}
	if got := s.next(t).Data; got != "second" {
		t.Errorf("replayed %q, want second", got)
	}
	publish("third")
	if got := s.next(t).Data; got != "third" {
		t.Errorf("live %q, want third", got)
	}
	for { // the token expires within 2 s; the request's own limit is 20 s
		if _, err := s.dec.Next(); err != nil {
			break
		}
	}
	if ctx.Err() != nil {
		t.Fatal("the stream outlived its token")
	}
}
