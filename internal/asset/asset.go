// Package asset serves a file embedded in herald's binary — herald.js, the
// OpenAPI description — the one way both need: GET and HEAD, a strong ETag
// of the content with Cache-Control: no-cache, so a client revalidates and
// gets 304 until the server runs another version, and 405 with an Allow
// header and herald's JSON error for any other method.
package asset

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/heraldsse/herald/api"
)

// Handler returns a handler that serves content, named name (for
// [http.ServeContent]), as contentType, with each of header's fields set
// on every answer to GET and HEAD. content must not change afterwards.
func Handler(name, contentType string, content []byte, header http.Header) http.Handler {
	sum := sha256.Sum256(content)
	etag := `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			h.Set("Allow", "GET, HEAD")
			h.Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusMethodNotAllowed)
			b, _ := json.Marshal(api.Error{Error: fmt.Sprintf("method %s not allowed on %s; allowed: GET, HEAD", r.Method, r.URL.Path)}) // a string always marshals
			_, _ = w.Write(append(b, '\n'))
			return
		}
		for k, v := range header {
			h[k] = v
		}
		h.Set("Content-Type", contentType)
		h.Set("Cache-Control", "no-cache")
		h.Set("ETag", etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(content))
	})
}
