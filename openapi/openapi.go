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
	_ "embed"
	"net/http"

	"github.com/heraldsse/herald/internal/asset"
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
	return asset.Handler("openapi.json", "application/json", document, nil)
}
