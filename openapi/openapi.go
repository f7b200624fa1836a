// Package openapi holds the OpenAPI 3.1 description of every route herald
// serve serves — the hub's API, health and metrics, the tutorial's apps and
// their pages — and serves it. The description is one hand-written JSON
// document, openapi.json in this directory, embedded in the binary; a test
// of the herald command sends real requests to a real node and validates
// each request and answer against it, and fails when a route is served but
// not described, or described but not served (docs/api.md).
package openapi

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldsse/herald/api"
)

// Path is where herald serve serves the description.
const Path = "/openapi.json"

//go:embed openapi.json
var document []byte

// Document returns the description, JSON, as a copy the caller may keep.
func Document() []byte { return bytes.Clone(document) }

// Handler returns a handler that serves the description for GET and HEAD,
// at whatever path it is mounted, as application/json with a strong ETag of
// its content and Cache-Control: no-cache, so a client revalidates and gets
// 304 until the server runs another version. Other methods get 405 with an
// Allow header and a JSON error.
func Handler() http.Handler {
	sum := sha256.Sum256(document)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; use GET", r.Method, r.URL.Path))
			return
		}
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		http.ServeContent(w, r, "openapi.json", time.Time{}, bytes.NewReader(document))
	})
}

// writeError answers status with herald's JSON error body.
func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(api.Error{Error: msg}) // a string field always marshals
	_, _ = w.Write(append(b, '\n'))
}
