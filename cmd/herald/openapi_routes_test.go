package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
)

// servedPatterns returns the pattern of every route n serves, as the
// node's handler registers them, with the apps' own routes in place of "/",
// where the apps are mounted.
func servedPatterns(n *servedNode) []string {
	var patterns []string
	for _, p := range n.handler().patterns {
		if p == "/" {
			patterns = append(patterns, n.apps.Routes()...)
			continue
		}
		patterns = append(patterns, p)
	}
	return patterns
}

var wildcard = regexp.MustCompile(`\{[^}]*\}`)

// samplePath returns the method of a net/http pattern ("" for any) and a
// path it matches: each wildcard a sample segment, a subtree a file in it.
func samplePath(pattern string) (method, path string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "", pattern
	}
	path = wildcard.ReplaceAllStringFunc(path, func(w string) string {
		if w == "{$}" {
			return ""
		}
		return "X1"
	})
	if path != "/" && strings.HasSuffix(path, "/") {
		path += "sample"
	}
	return method, path
}

// probe sends method target to n with no credentials and no body, and
// returns the answer's status, headers and body; an event stream is closed
// once its headers arrive.
func probe(t *testing.T, n *servedNode, method, target string) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(newRequest(t, ctx, method, n.url+target, nil, "", ""))
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	if isStream(resp) {
		return resp.StatusCode, resp.Header, nil
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, body
}

// serves reports whether n serves method target: a route of the node's
// matches it, and the answer is not 405.
func serves(t *testing.T, n *servedNode, method, target string) bool {
	t.Helper()
	routes := http.NewServeMux()
	for _, p := range servedPatterns(n) {
		routes.Handle(p, http.NotFoundHandler())
	}
	req := newRequest(t, t.Context(), method, n.url+target, nil, "", "")
	if _, pattern := routes.Handler(req); pattern == "" {
		return false
	}
	status, _, _ := probe(t, n, method, target)
	return status != http.StatusMethodNotAllowed
}

// sampleTarget returns a path and query that op at the templated path
// serves: each path parameter and required query parameter filled with its
// example, or the first value of its enum.
func sampleTarget(path string, item *openapi3.PathItem, op *openapi3.Operation) string {
	q := url.Values{}
	for _, pr := range append(item.Parameters, op.Parameters...) {
		p := pr.Value
		if p.In != openapi3.ParameterInPath && !(p.In == openapi3.ParameterInQuery && p.Required) {
			continue
		}
		var values []string
		ex := p.Example
		if ex == nil && p.Schema != nil {
			if ex = p.Schema.Value.Example; ex == nil && len(p.Schema.Value.Enum) > 0 {
				ex = p.Schema.Value.Enum[0]
			}
			if ex == nil && p.Schema.Value.Items != nil {
				ex = p.Schema.Value.Items.Value.Example
			}
		}
		switch v := ex.(type) {
		case []any:
			for _, e := range v {
				values = append(values, fmt.Sprint(e))
			}
		case nil:
			values = []string{"X1"}
		default:
			values = []string{fmt.Sprint(v)}
		}
		if p.In == openapi3.ParameterInPath {
			path = strings.ReplaceAll(path, "{"+p.Name+"}", url.PathEscape(values[0]))
			continue
		}
		q[p.Name] = values
	}
	if len(q) > 0 {
		return path + "?" + q.Encode()
	}
	return path
}

// TestOpenAPIRoutes compares the routes a node serves with those
// openapi/openapi.json describes, both ways: every method that a served
// path answers otherwise than 405 (HEAD standing for GET) must be
// described, with the path's parameters valid; every described operation
// must be served, but the pendingRoutes not served yet. Every 405 and 404
// is herald's JSON error, a 405 with Allow. With auth on, exactly the
// operations that list a security requirement refuse a request without a
// token.
func TestOpenAPIRoutes(t *testing.T) {
	s := loadSpec(t)
	n := startServe(t, append(slices.Clone(fast), conformanceFlags...)...)

	t.Run("served routes are described", func(t *testing.T) {
		for _, pattern := range servedPatterns(n) {
			_, path := samplePath(pattern)
			for _, method := range probeMethods {
				if method == "QUERY" && path == mercurePath {
					continue // Mercure's QUERY subscribe: OpenAPI 3.1 has no QUERY operation; the path item's description says it
				}
				status, header, body := probe(t, n, method, path)
				if status == http.StatusMethodNotAllowed {
					if header.Get("Allow") == "" {
						t.Errorf("%s %s = 405 without an Allow header", method, path)
					}
					switch {
					case method == http.MethodHead:
					case isMercurePath(path):
						checkMercureErrorBody(t, method+" "+path, &http.Response{StatusCode: status, Header: header}, body)
					default:
						checkErrorBody(t, method+" "+path, &http.Response{StatusCode: status, Header: header}, body)
					}
					continue
				}
				req := newRequest(t, t.Context(), method, n.url+path, nil, "", "")
				route, params, err := s.router.FindRoute(req)
				if err != nil && method == http.MethodHead {
					req.Method = http.MethodGet // HEAD stands for GET
					route, params, err = s.router.FindRoute(req)
				}
				if err != nil {
					t.Errorf("%s %s (route %q) answers %d, but openapi.json does not describe it (describe it there: docs/api.md): %v", method, path, pattern, status, err)
					continue
				}
				in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: &openapi3filter.Options{
					ExcludeRequestBody: true, ExcludeRequestQueryParams: true, AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
				if err := openapi3filter.ValidateRequest(t.Context(), in); err != nil {
					t.Errorf("%s %s (route %q) is served, but openapi.json does not describe this path: %v", method, path, pattern, err)
				}
			}
		}
		status, header, body := probe(t, n, http.MethodGet, "/no/such/route")
		if status != http.StatusNotFound {
			t.Errorf("GET /no/such/route = %d, want 404", status)
		}
		checkErrorBody(t, "GET /no/such/route", &http.Response{StatusCode: status, Header: header}, body)
	})

	t.Run("described routes are served", func(t *testing.T) {
		for path, item := range s.doc.Paths.Map() {
			for method, op := range item.Operations() {
				key := method + " " + path
				target := sampleTarget(path, item, op)
				if !serves(t, n, method, target) {
					if _, pending := pendingRoutes[key]; pending {
						continue
					}
					t.Errorf("%s is described in openapi.json but not served (tried %s %s)", key, method, target)
				}
			}
		}
	})

	t.Run("with auth on, the routes that need a token", func(t *testing.T) {
		a := startServe(t, "--auth-secret", testAuthSecret, "--anonymous-subscribe", "public/*")
		for path, item := range s.doc.Paths.Map() {
			for method, op := range item.Operations() {
				if method == http.MethodOptions {
					continue // the preflight is answered before auth
				}
				target := sampleTarget(path, item, op)
				if !serves(t, a, method, target) {
					continue // checked above
				}
				status, _, body := probe(t, a, method, target)
				needs := op.Security != nil && len(*op.Security) > 0
				refused := status == http.StatusUnauthorized || status == http.StatusForbidden
				switch {
				case needs && status != http.StatusUnauthorized:
					t.Errorf("%s %s without a token = %d %s; openapi.json lists a security requirement, so want 401", method, target, status, body)
				case !needs && refused:
					t.Errorf("%s %s without a token = %d %s; openapi.json lists no security requirement", method, target, status, body)
				}
			}
		}
	})
}

// TestOpenAPIServed checks that herald serve serves the description it
// embeds at /openapi.json.
func TestOpenAPIServed(t *testing.T) {
	n := startServe(t)
	status, header, body := probe(t, n, http.MethodGet, "/openapi.json")
	var doc struct {
		OpenAPI string `json:"openapi"`
	}
	if status != http.StatusOK || header.Get("Content-Type") != "application/json" || header.Get("ETag") == "" || json.Unmarshal(body, &doc) != nil || !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Fatalf("GET /openapi.json = %d %q ETag %q, openapi %q; want 200, application/json, an ETag, 3.1.x", status, header.Get("Content-Type"), header.Get("ETag"), doc.OpenAPI)
	}
}
