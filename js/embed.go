// Package js embeds herald.js, the browser and Node client of herald's hub,
// and serves it. The file itself, its tests and its npm package live in
// this directory; js/README.md documents the client.
package js

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"time"
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
	sum := sha256.Sum256(source)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			h.Set("Content-Type", "application/json")
			h.Set("X-Content-Type-Options", "nosniff")
			w.WriteHeader(http.StatusMethodNotAllowed)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": "method " + r.Method + " not allowed on " + r.URL.Path + "; allowed: GET, HEAD"})
			return
		}
		h.Set("Content-Type", "text/javascript; charset=utf-8")
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Access-Control-Allow-Origin", "*")
		http.ServeContent(w, r, "herald.js", time.Time{}, bytes.NewReader(source))
	})
}
