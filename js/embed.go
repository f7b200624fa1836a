// Package js embeds herald.js, the browser and Node client of herald's hub,
// and serves it. The file itself, its tests and its npm package live in
// this directory; js/README.md documents the client.
package js

import (
	"bytes"
	_ "embed"
	"net/http"

	"github.com/heraldsse/herald/internal/asset"
)

//go:embed herald.js
var source []byte

// Source returns the text of herald.js, a copy the caller may keep.
func Source() []byte { return bytes.Clone(source) }

// Handler returns a handler that serves herald.js, for GET and HEAD at
// whatever path it is mounted (herald serve mounts it at /herald.js), as
// text/javascript with a strong ETag of its content and
// Cache-Control: no-cache, so a browser revalidates it (a 304 when it has
// not changed) and picks up a new version as soon as the server has one.
// It answers Access-Control-Allow-Origin: *, since module scripts load
// with CORS: a page on another origin may import it. Other methods get 405.
func Handler() http.Handler {
	return asset.Handler("herald.js", "text/javascript; charset=utf-8", source, http.Header{"Access-Control-Allow-Origin": {"*"}})
}
