package server_test

import (
	"net/http"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
)

func request(t testing.TB, e *env, method, path string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func preflight(origin string) http.Header {
	return http.Header{
		"Origin":                         {origin},
		"Access-Control-Request-Method":  {"GET"},
		"Access-Control-Request-Headers": {"authorization, last-event-id"},
	}
}

// TestCORS tries preflights and simple requests from listed and unlisted
// origins, with auth on (credentials allowed) and off.
func TestCORS(t *testing.T) {
	const listed = "https://app.example.com"
	withAuth := newEnv(t, hub.Options{}, server.Options{
		Auth: &server.AuthOptions{Secret: testSecret, AnonymousSubscribe: []string{"**"}},
		CORS: server.CORSOptions{Origins: []string{listed, "http://localhost:3000"}},
	})
	anyOrigin := newEnv(t, hub.Options{}, server.Options{CORS: server.CORSOptions{Origins: []string{"*"}}})
	none := newEnv(t, hub.Options{}, server.Options{})

	tests := []struct {
		name        string
		e           *env
		method      string
		path        string
		header      http.Header
		status      int
		allowOrigin string // want Access-Control-Allow-Origin; "" for none
		credentials bool
	}{
		{"preflight from an unlisted origin", withAuth, "OPTIONS", "/events", preflight("https://evil.example"), 403, "", false},
		{"preflight from a listed origin", withAuth, "OPTIONS", "/events", preflight(listed), 204, listed, true},
		{"preflight to healthz from a listed origin", withAuth, "OPTIONS", "/healthz", preflight("http://localhost:3000"), 204, "http://localhost:3000", true},
		{"preflight from a listed origin in another case", withAuth, "OPTIONS", "/events", preflight("HTTPS://APP.example.com"), 204, "HTTPS://APP.example.com", true},
		{"preflight from a suffix of a listed origin", withAuth, "OPTIONS", "/events", preflight("https://app.example.com.evil.example"), 403, "", false},
		{"preflight from the null origin", withAuth, "OPTIONS", "/events", preflight("null"), 403, "", false},
		{"simple request from an unlisted origin", withAuth, "GET", "/healthz", http.Header{"Origin": {"https://evil.example"}}, 200, "", false},
		{"simple request from a listed origin", withAuth, "GET", "/healthz", http.Header{"Origin": {listed}}, 200, listed, true},
		{"simple request without an origin", withAuth, "GET", "/readyz", nil, 200, "", false},
		{"preflight with * and auth off", anyOrigin, "OPTIONS", "/events", preflight("https://any.example"), 204, "*", false},
		{"simple request with * and auth off", anyOrigin, "GET", "/healthz", http.Header{"Origin": {"https://any.example"}}, 200, "*", false},
		{"preflight with no origins listed", none, "OPTIONS", "/events", preflight(listed), 403, "", false},
		{"options without preflight headers", none, "OPTIONS", "/events", nil, 204, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := request(t, tt.e, tt.method, tt.path, tt.header)
			if resp.StatusCode != tt.status {
				t.Fatalf("%s %s = %d, want %d", tt.method, tt.path, resp.StatusCode, tt.status)
			}
			h := resp.Header
			if got := h.Get("Access-Control-Allow-Origin"); got != tt.allowOrigin {
				t.Errorf("Access-Control-Allow-Origin = %q, want %q", got, tt.allowOrigin)
			}
			if got := h.Get("Access-Control-Allow-Credentials") == "true"; got != tt.credentials {
				t.Errorf("Access-Control-Allow-Credentials = %q, want credentials %v", h.Get("Access-Control-Allow-Credentials"), tt.credentials)
			}
			if tt.allowOrigin == "" {
				for _, name := range []string{"Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Max-Age"} {
					if v := h.Get(name); v != "" {
						t.Errorf("%s = %q for a refused origin, want none", name, v)
					}
				}
			}
			if tt.e != none && h.Get("Vary") != "Origin" {
				t.Errorf("Vary = %q, want Origin", h.Get("Vary"))
			}
			if tt.status == 204 && tt.allowOrigin != "" {
				if got := h.Get("Access-Control-Allow-Methods"); got != "GET, POST, OPTIONS" {
					t.Errorf("Access-Control-Allow-Methods = %q", got)
				}
				if got := h.Get("Access-Control-Allow-Headers"); got != "Authorization, Content-Type, Last-Event-ID" {
					t.Errorf("Access-Control-Allow-Headers = %q", got)
				}
				if got := h.Get("Access-Control-Max-Age"); got != "600" {
					t.Errorf("Access-Control-Max-Age = %q, want 600", got)
				}
			}
			if tt.status == 403 && h.Get("Content-Type") != "application/json" {
				t.Errorf("403 Content-Type = %q, want JSON", h.Get("Content-Type"))
			}
		})
	}
}
