package asset_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/heraldsse/herald/internal/asset"
)

// TestHandler checks how an embedded file is served: its content type,
// the extra headers, a strong ETag and no-cache; 304 for a client that has
// it; HEAD without a body; and 405 with Allow and a JSON error for other
// methods, without the extra headers.
func TestHandler(t *testing.T) {
	content := []byte("export const x = 1;\n")
	srv := httptest.NewServer(asset.Handler("x.js", "text/javascript; charset=utf-8", content, http.Header{"Access-Control-Allow-Origin": {"*"}}))
	t.Cleanup(srv.Close)
	do := func(method string, header http.Header) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+"/x.js", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, string(b)
	}
	resp, body := do(http.MethodGet, http.Header{})
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != 200 || body != string(content) || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" ||
		resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Access-Control-Allow-Origin") != "*" || len(etag) < 3 || etag[0] != '"' {
		t.Fatalf("GET = %d %q %v", resp.StatusCode, body, resp.Header)
	}
	tests := []struct {
		name, method string
		header       http.Header
		status       int
		body         string
	}{
		{"the same ETag", http.MethodGet, http.Header{"If-None-Match": {etag}}, 304, ""},
		{"another ETag", http.MethodGet, http.Header{"If-None-Match": {`"old"`}}, 200, string(content)},
		{"HEAD", http.MethodHead, http.Header{}, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(tt.method, tt.header)
			if resp.StatusCode != tt.status || body != tt.body || resp.Header.Get("ETag") != etag {
				t.Errorf("%s = %d %q ETag %q; want %d %q ETag %q", tt.method, resp.StatusCode, body, resp.Header.Get("ETag"), tt.status, tt.body, etag)
			}
		})
	}
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			resp, body := do(method, http.Header{})
			var e map[string]string
			if resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || resp.Header.Get("Content-Type") != "application/json" ||
				json.Unmarshal([]byte(body), &e) != nil || len(e) != 1 || e["error"] == "" || resp.Header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("%s = %d %v %q; want 405, Allow GET, HEAD, a JSON error, no extra headers", method, resp.StatusCode, resp.Header, body)
			}
		})
	}
}
