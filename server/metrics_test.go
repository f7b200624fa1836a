package server_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
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
)

// scrape fetches url's /metrics and returns each sample's value by its name
// and labels as written, such as
// `herald_publish_errors_total{endpoint="events",reason="invalid"}`.
func scrape(t testing.TB, url string) map[string]float64 {
	t.Helper()
	resp, err := http.Get(url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET /metrics = %d %q, want 200", resp.StatusCode, b)
	}
	samples := make(map[string]float64)
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			t.Fatalf("malformed metrics line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("malformed metrics line %q: %v", line, err)
		}
		samples[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return samples
}

// wantMetric fails unless samples hold name with value want.
func wantMetric(t testing.TB, samples map[string]float64, name string, want float64) {
	t.Helper()
	got, ok := samples[name]
	if !ok {
		t.Errorf("/metrics has no %s", name)
		return
	}
	if got != want {
		t.Errorf("%s = %v, want %v", name, got, want)
	}
}

// TestMetrics drives a server over HTTP and checks that each metric moves
// as the traffic says it should.
func TestMetrics(t *testing.T) {
	e := newEnv(t, hub.Options{QueueSize: 4}, server.Options{MaxBodyBytes: 4096, WriteTimeout: 200 * time.Millisecond})

	m := scrape(t, e.ts.URL)
	for _, name := range []string{
		"herald_subscribers", "herald_streams_open",
		"herald_events_published_total", "herald_events_dispatched_total", "herald_events_delivered_total",
		"herald_slow_disconnects_total", "herald_write_waits_total", "herald_replays_total", "herald_gaps_total",
		`herald_publish_duration_seconds_count{endpoint="events"}`,
		`herald_publish_errors_total{endpoint="events",reason="invalid"}`,
		`herald_stream_ends_total{endpoint="events",reason="slow"}`,
	} {
		wantMetric(t, m, name, 0)
	}

	resp, dec := e.subscribe(t, "topic=chat/*", nil)
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })
	m = scrape(t, e.ts.URL)
	wantMetric(t, m, "herald_subscribers", 1)
	wantMetric(t, m, "herald_streams_open", 1)

	for i := range 3 {
		if status, out := e.post(t, "application/json", fmt.Sprintf(`{"topic":"chat/a","data":"%d"}`, i)); status != http.StatusCreated {
			t.Fatalf("POST = %d %v, want 201", status, out)
		}
		next(t, dec)
	}
	m = scrape(t, e.ts.URL)
	wantMetric(t, m, "herald_events_published_total", 3)
	wantMetric(t, m, "herald_events_dispatched_total", 3)
	wantMetric(t, m, "herald_events_delivered_total", 3)
	wantMetric(t, m, `herald_publish_duration_seconds_count{endpoint="events"}`, 3)

	t.Run("publish errors by reason", func(t *testing.T) {
		tests := []struct {
			name, contentType, body, reason string
		}{
			{"malformed JSON", "application/json", `{"topic":`, "invalid"},
			{"invalid topic", "application/json", `{"topic":"a//b"}`, "invalid"},
			{"body too large", "application/json", `{"topic":"a","data":"` + strings.Repeat("x", 5000) + `"}`, "too_large"},
			{"unsupported Content-Type", "text/plain", "hello", "media_type"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				name := `herald_publish_errors_total{endpoint="events",reason="` + tt.reason + `"}`
				before := scrape(t, e.ts.URL)
				if status, _ := e.post(t, tt.contentType, tt.body); status < 400 {
					t.Fatalf("POST = %d, want an error", status)
				}
				after := scrape(t, e.ts.URL)
				wantMetric(t, after, name, before[name]+1)
				wantMetric(t, after, `herald_publish_duration_seconds_count{endpoint="events"}`, before[`herald_publish_duration_seconds_count{endpoint="events"}`]+1)
				wantMetric(t, after, "herald_events_published_total", 3)
			})
		}
	})

	t.Run("client gone", func(t *testing.T) {
		resp.Body.Close()
		waitFor(t, func() bool {
			return scrape(t, e.ts.URL)[`herald_stream_ends_total{endpoint="events",reason="client_gone"}`] == 1
		})
		m := scrape(t, e.ts.URL)
		wantMetric(t, m, "herald_subscribers", 0)
		wantMetric(t, m, "herald_streams_open", 0)
	})

	t.Run("slow disconnect", func(t *testing.T) {
		// A client that never reads: once the socket's buffers are full, its
		// queue of 4 overflows and the hub disconnects it (or, on a slow
		// machine, a write waits past the write timeout first).
		stuck, err := net.Dial("tcp", e.ts.Listener.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer stuck.Close()
		fmt.Fprintf(stuck, "GET /events?topic=big HTTP/1.1\r\nHost: x\r\n\r\n")
		waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })
		big := strings.Repeat("x", 256<<10)
		for i := 0; e.hub.Stats().Subscribers > 0; i++ {
			if i == 1000 {
				t.Fatal("no slow disconnect after 1000 large events")
			}
			if _, err := e.hub.Publish(t.Context(), hub.Message{Topic: "big", Data: big}); err != nil {
				t.Fatal(err)
			}
			// Let the hub hand the event out before the next one, so the
			// queue fills only when the writer is stuck.
			waitFor(t, func() bool { st := e.hub.Stats(); return st.Dispatched == st.Published })
		}
		waitFor(t, func() bool {
			return scrape(t, e.ts.URL)[`herald_stream_ends_total{endpoint="events",reason="slow"}`] == 1
		})
		m := scrape(t, e.ts.URL)
		wantMetric(t, m, "herald_slow_disconnects_total", 1)
		wantMetric(t, m, "herald_streams_open", 0)
		wantMetric(t, m, `herald_stream_ends_total{endpoint="events",reason="client_gone"}`, 1)
	})
}

// TestMetricsByEndpoint checks that the Mercure hub's publishes and
// streams are counted apart from /events': the endpoint label of the
// publish and stream metrics.
func TestMetricsByEndpoint(t *testing.T) {
	const secret = "a-secret-for-the-mercure-publisher-key"
	e := newEnv(t, hub.Options{}, server.Options{Mercure: &mercure.Options{Auth: mercure.AuthOptions{
		PublisherKeys: []mercure.Key{{Secret: []byte(secret)}},
		Anonymous:     true,
	}}})
	m := scrape(t, e.ts.URL)
	for _, endpoint := range []string{"events", "mercure"} {
		wantMetric(t, m, `herald_publish_duration_seconds_count{endpoint="`+endpoint+`"}`, 0)
		wantMetric(t, m, `herald_publish_errors_total{endpoint="`+endpoint+`",reason="unavailable"}`, 0)
		wantMetric(t, m, `herald_stream_ends_total{endpoint="`+endpoint+`",reason="client_gone"}`, 0)
	}

	stream, err := http.Get(e.ts.URL + mercure.DefaultPath + "?match=" + url.QueryEscape("https://example.com/books/1"))
	if err != nil {
		t.Fatal(err)
	}
	if stream.StatusCode != http.StatusOK {
		t.Fatalf("GET %s = %s, want 200", mercure.DefaultPath, stream.Status)
	}
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })
	tok := sign(t, secret, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "authorization_details": []any{map[string]any{
		"type": mercure.AuthorizationDetailType, "actions": []string{"publish"}, "topics": []any{map[string]any{"match": "*"}},
	}}}, "at+jwt")
	post(t, http.DefaultClient, e.ts.URL+mercure.DefaultPath, "application/x-www-form-urlencoded", tok,
		"topic="+url.QueryEscape("https://example.com/books/1")+"&data=x", http.StatusOK)
	stream.Body.Close()
	waitFor(t, func() bool {
		return scrape(t, e.ts.URL)[`herald_stream_ends_total{endpoint="mercure",reason="client_gone"}`] == 1
	})
	m = scrape(t, e.ts.URL)
	wantMetric(t, m, `herald_publish_duration_seconds_count{endpoint="mercure"}`, 1)
	wantMetric(t, m, `herald_publish_duration_seconds_count{endpoint="events"}`, 0)
	wantMetric(t, m, `herald_stream_ends_total{endpoint="events",reason="client_gone"}`, 0)
}

// TestMetricsOpen checks that /metrics needs no token, sends no CORS
// headers, and is among the routes [Server.Handle] registers, and that a
// publish refused for want of a token is counted.
func TestMetricsOpen(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{
		Auth: &server.AuthOptions{Secret: testSecret},
		CORS: server.CORSOptions{Origins: []string{"https://app.example"}},
	})
	resp, err := http.Post(e.ts.URL+"/events", "application/json", strings.NewReader(`{"topic":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("POST /events without a token = %d, want 401", resp.StatusCode)
	}
	wantMetric(t, scrape(t, e.ts.URL), `herald_publish_errors_total{endpoint="events",reason="unauthorized"}`, 1)

	mux := http.NewServeMux()
	e.srv.Handle(mux)
	for _, tt := range []struct {
		name string
		h    http.Handler
	}{{"Server", e.srv}, {"Handle", mux}} {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, "/metrics", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Origin", "https://app.example")
			rec := httptest.NewRecorder()
			tt.h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("GET /metrics without a token = %d, want 200", rec.Code)
			}
			if v := rec.Header().Get("Access-Control-Allow-Origin"); v != "" {
				t.Errorf("GET /metrics from a listed origin: Access-Control-Allow-Origin = %q, want none", v)
			}
			if !strings.Contains(rec.Body.String(), "herald_events_published_total 0") {
				t.Errorf("GET /metrics body lacks herald_events_published_total 0:\n%s", rec.Body.String())
			}
		})
	}
}
