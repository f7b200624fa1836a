package apps

import (
	"encoding/json"
	"net/http"

	"github.com/heraldsse/herald/api"
)

// writeJSON sends v as a JSON body with the given status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		// Only this package's own types reach here, and they always marshal.
		status, body = http.StatusInternalServerError, []byte(`{"error":"internal error"}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

// writeError sends {"error": msg}, herald's error body, with the given 4xx
// or 5xx status.
func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, api.Error{Error: msg})
}

// jsonErrorWriter turns the plain-text 404 and 405 answers of
// net/http.ServeMux into JSON errors; other answers (redirects) pass through.
type jsonErrorWriter struct {
	http.ResponseWriter
	r       *http.Request
	swallow bool // the body is ours; drop what the mux writes
}

func (w *jsonErrorWriter) WriteHeader(status int) {
	var msg string
	switch status {
	case http.StatusNotFound:
		msg = "no route for " + w.r.URL.Path
	case http.StatusMethodNotAllowed:
		msg = "method " + w.r.Method + " not allowed on " + w.r.URL.Path
		if allow := w.Header().Get("Allow"); allow != "" {
			msg += "; allowed: " + allow
		}
	default:
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.swallow = true
	writeError(w.ResponseWriter, status, msg)
}

func (w *jsonErrorWriter) Write(b []byte) (int, error) {
	if w.swallow {
		return len(b), nil
	}
	return w.ResponseWriter.Write(b)
}
