package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
)

// BenchmarkMercureVsEvents compares herald's Mercure endpoint with its own
// /events on one node over loopback HTTP, both with HS256 tokens: what the
// protocol costs (form parsing, Mercure's token checks, the topic mapping,
// URL patterns evaluated per update). docs/performance.md has the command
// and the numbers.
//
//   - publish: one POST to each per op, sequential (request, auth, parse,
//     append).
//   - fanout: one POST to each per op, each delivered to its 100 streams;
//     an endpoint's turn is done when every one of its streams has read
//     the update. Mercure subscribers by exact topic (routed by the index,
//     as /events') and by URL pattern (every update of the namespace asked
//     of each subscriber's pattern, one evaluation per update shared by
//     all).
func BenchmarkMercureVsEvents(b *testing.B) {
	const secret = "!ChangeThisMercureHubJWTSecretKey!"
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), QueueSize: 100_000})
	if err != nil {
		b.Fatal(err)
	}
	srv, err := server.New(server.Options{
		Hub:  h,
		Auth: &server.AuthOptions{Secret: []byte(secret), AnonymousSubscribe: []string{"**"}},
		Mercure: &mercure.Options{Auth: mercure.AuthOptions{
			PublisherKeys: []mercure.Key{{Secret: []byte(secret)}},
			Anonymous:     true,
		}},
		Heartbeat:               -1,
		MaxSubscribersPerClient: 10_000, // streams of an earlier run may not be released yet
	})
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = h.Close(ctx)
		_ = srv.Close(ctx)
		ts.Close()
	})
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}

	heraldTok := sign(b, secret, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "herald": map[string]any{"publish": []string{"**"}}}, "")
	mercureTok := sign(b, secret, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "authorization_details": []any{map[string]any{
		"type": mercure.AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{map[string]any{"match": "*"}},
	}}}, "at+jwt")
	const topic = "https://example.com/books/1"
	publishEvents := func(b *testing.B, i int) {
		post(b, client, ts.URL+"/events", "application/json", heraldTok, `{"topic":"books/1","data":"update `+strconv.Itoa(i)+`"}`, http.StatusCreated)
	}
	publishMercure := func(b *testing.B, i int) {
		post(b, client, ts.URL+mercure.DefaultPath, "application/x-www-form-urlencoded", mercureTok, "topic="+url.QueryEscape(topic)+"&data=update+"+strconv.Itoa(i), http.StatusOK)
	}

	// Each op runs both endpoints in turn, each timed on its own: on a
	// shared machine, noise then falls on both alike, and the ratio is
	// read within one run.
	pair := func(b *testing.B, events, mercure func(i int)) {
		var te, tm time.Duration
		for i := 0; b.Loop(); i++ {
			t0 := time.Now()
			events(i)
			t1 := time.Now()
			mercure(i)
			te, tm = te+t1.Sub(t0), tm+time.Since(t1)
		}
		b.ReportMetric(float64(te.Nanoseconds())/float64(b.N), "events-ns/op")
		b.ReportMetric(float64(tm.Nanoseconds())/float64(b.N), "mercure-ns/op")
		b.ReportMetric(float64(tm)/float64(te), "mercure/events")
	}
	b.Run("publish", func(b *testing.B) {
		pair(b, func(i int) { publishEvents(b, i) }, func(i int) { publishMercure(b, i) })
	})

	// streams opens n streams of target and returns a function that waits
	// until each has read one more event.
	streams := func(b *testing.B, ctx context.Context, target string, n int) func() {
		var counts []chan struct{}
		for range n {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+target, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("subscribe %s: %v %v", target, resp, err)
			}
			c := make(chan struct{}, 1024)
			counts = append(counts, c)
			go func() {
				defer resp.Body.Close()
				dec := sse.NewDecoder(resp.Body)
				for {
					if _, err := dec.Next(); err != nil {
						return
					}
					c <- struct{}{}
				}
			}()
		}
		return func() {
			for _, c := range counts {
				<-c
			}
		}
	}
	fanout := func(b *testing.B, mercureTarget string) {
		const n = 100
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		waitEvents := streams(b, ctx, "/events?topic=books/1", n)
		waitMercure := streams(b, ctx, mercureTarget, n)
		pair(b, func(i int) { publishEvents(b, i); waitEvents() }, func(i int) { publishMercure(b, i); waitMercure() })
	}
	b.Run("fanout-exact", func(b *testing.B) {
		fanout(b, mercure.DefaultPath+"?match="+url.QueryEscape(topic))
	})
	b.Run("fanout-urlpattern", func(b *testing.B) {
		fanout(b, mercure.DefaultPath+"?match_urlpattern="+url.QueryEscape("https://example.com/books/:id"))
	})
}

// sign signs claims with secret (HS256), with typ as the header's typ if
// not empty.
func sign(b testing.TB, secret string, claims jwt.MapClaims, typ string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	if typ != "" {
		tok.Header["typ"] = typ
	}
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// post sends body to target with tok as a bearer token, and fails b
// unless the answer is want.
func post(b testing.TB, c *http.Client, target, ctype, tok, body string, want int) {
	b.Helper()
	req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
	req.Header.Set("Content-Type", ctype)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := c.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != want {
		b.Fatalf("POST %s: %d, want %d", target, resp.StatusCode, want)
	}
}
