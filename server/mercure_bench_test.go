package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
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
//   - publish: one POST per op, sequential (request, auth, parse, append).
//   - fanout: one POST per op, each delivered to 100 streams; an op is done
//     when every stream has read it. Mercure subscribers by exact topic
//     (routed by the index, as /events') and by URL pattern (every update
//     of the namespace asked of each subscriber's pattern, one evaluation
//     per update shared by all).
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

	b.Run("publish/events", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			publishEvents(b, i)
		}
	})
	b.Run("publish/mercure", func(b *testing.B) {
		for i := 0; b.Loop(); i++ {
			publishMercure(b, i)
		}
	})
	fanout := func(b *testing.B, target string, publish func(*testing.B, int)) {
		const streams = 100
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var read sync.WaitGroup
		counts := make([]chan struct{}, streams)
		for s := range streams {
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+target, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != http.StatusOK {
				b.Fatalf("subscribe %s: %v %v", target, resp, err)
			}
			counts[s] = make(chan struct{}, 1024)
			read.Go(func() {
				defer resp.Body.Close()
				dec := sse.NewDecoder(resp.Body)
				for {
					if _, err := dec.Next(); err != nil {
						return
					}
					counts[s] <- struct{}{}
				}
			})
		}
		for i := 0; b.Loop(); i++ {
			publish(b, i)
			for _, c := range counts {
				<-c
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*streams), "ns/delivery")
		cancel()
		read.Wait()
	}
	b.Run("fanout/events", func(b *testing.B) { fanout(b, "/events?topic=books/1", publishEvents) })
	b.Run("fanout/mercure-exact", func(b *testing.B) {
		fanout(b, mercure.DefaultPath+"?match="+url.QueryEscape(topic), publishMercure)
	})
	b.Run("fanout/mercure-urlpattern", func(b *testing.B) {
		fanout(b, mercure.DefaultPath+"?match_urlpattern="+url.QueryEscape("https://example.com/books/:id"), publishMercure)
	})
}

func sign(b *testing.B, secret string, claims jwt.MapClaims, typ string) string {
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

func post(b *testing.B, c *http.Client, target, ctype, tok, body string, want int) {
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
