package apps_test

import (
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// absoluteURL finds the absolute URLs in a page.
var absoluteURL = regexp.MustCompile(`(?:https?:)?//[^\s"'<>]+`)

// assetRef finds the local assets a page loads.
var assetRef = regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`)

func TestPages(t *testing.T) {
	ts := serve(t, newApps(t, fast()).Handler())
	ctx := testCtx(t)

	resp, index := do(ctx, t, http.MethodGet, ts.URL+"/")
	checkPage(t, resp, "/")
	var links []string
	for _, m := range regexp.MustCompile(`href="(/apps/[^"]+)"`).FindAllStringSubmatch(index, -1) {
		links = append(links, m[1])
	}
	want := []string{"/apps/counter", "/apps/named-events", "/apps/event-ids", "/apps/task-monitor",
		"/apps/metrics", "/apps/chat", "/apps/stocks", "/apps/tasks", "/apps/reconnect"}
	if !slices.Equal(links, want) {
		t.Errorf("index links to %v, want %v", links, want)
	}

	assets := map[string]bool{}
	for _, path := range append([]string{"/"}, want...) {
		resp, body := do(ctx, t, http.MethodGet, ts.URL+path)
		checkPage(t, resp, path)
		for _, m := range assetRef.FindAllStringSubmatch(body, -1) {
			assets[m[1]] = true
		}
		if path != "/" && !strings.Contains(body, `src="/static`+strings.TrimPrefix(path, "/apps")+`.js"`) {
			t.Errorf("%s does not load its script", path)
		}
		// Nothing comes from another origin; the only absolute URL is the
		// placeholder of the curl examples, which site.js replaces.
		for _, u := range absoluteURL.FindAllString(body, -1) {
			if u != "http://localhost:8080" {
				t.Errorf("%s refers to %s", path, u)
			}
		}
	}

	types := map[string]string{
		".css": "text/css; charset=utf-8",
		".js":  "text/javascript; charset=utf-8",
		".svg": "image/svg+xml",
	}
	if len(assets) < 7 {
		t.Errorf("pages load %d assets (%v), want the stylesheet, the icon, site.js and a script per app", len(assets), assets)
	}
	for path := range assets {
		resp, body := do(ctx, t, http.MethodGet, ts.URL+path)
		ext := path[strings.LastIndex(path, "."):]
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != types[ext] || body == "" {
			t.Errorf("GET %s: %d %q (%d bytes), want 200 %q", path, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), types[ext])
		}
	}
}

func checkPage(t *testing.T, resp *http.Response, path string) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: status %d, want 200", path, resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("GET %s: Content-Type %q", path, ct)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("GET %s: Content-Security-Policy %q, want default-src 'self'", path, csp)
	}
}
