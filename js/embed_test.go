package js_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/heraldsse/herald/js"
)

// TestHandler checks what a browser relies on to load herald.js: the file
// itself, as JavaScript, revalidated with its ETag, importable from another
// origin; and a JSON error for a method other than GET and HEAD.
func TestHandler(t *testing.T) {
	want, err := os.ReadFile("herald.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(js.Source(), want) {
		t.Fatal("Source() differs from herald.js on disk")
	}
	ts := httptest.NewServer(js.Handler())
	defer ts.Close()

	get := func(method string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, ts.URL+"/herald.js", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	resp, body := get(http.MethodGet, nil)
	if resp.StatusCode != http.StatusOK || !bytes.Equal(body, want) {
		t.Fatalf("GET: %d, %d bytes; want 200 and herald.js (%d bytes)", resp.StatusCode, len(body), len(want))
	}
	for name, value := range map[string]string{
		"Content-Type":                "text/javascript; charset=utf-8",
		"Cache-Control":               "no-cache",
		"X-Content-Type-Options":      "nosniff",
		"Access-Control-Allow-Origin": "*",
	} {
		if got := resp.Header.Get(name); got != value {
			t.Errorf("GET: %s = %q, want %q", name, got, value)
		}
	}
	etag := resp.Header.Get("ETag")
	if len(etag) < 10 || etag[0] != '"' {
		t.Fatalf("GET: ETag %q, want a strong quoted tag", etag)
	}

	if resp, body := get(http.MethodGet, http.Header{"If-None-Match": {etag}}); resp.StatusCode != http.StatusNotModified || len(body) != 0 {
		t.Errorf("GET with If-None-Match %s: %d, %d bytes; want 304, empty", etag, resp.StatusCode, len(body))
	}
	if resp, _ := get(http.MethodGet, http.Header{"If-None-Match": {`"stale"`}}); resp.StatusCode != http.StatusOK {
		t.Errorf("GET with a stale If-None-Match: %d, want 200", resp.StatusCode)
	}
	if resp, body := get(http.MethodHead, nil); resp.StatusCode != http.StatusOK || len(body) != 0 || resp.Header.Get("ETag") != etag {
		t.Errorf("HEAD: %d, %d bytes, ETag %q; want 200, empty, %s", resp.StatusCode, len(body), resp.Header.Get("ETag"), etag)
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete} {
		resp, body := get(method, nil)
		var e struct{ Error string }
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" || json.Unmarshal(body, &e) != nil || e.Error == "" {
			t.Errorf("%s: %d, Allow %q, body %q; want 405, GET, HEAD and a JSON error", method, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
}
