package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/heraldsse/herald/sse"
)

// CORSOptions lists the origins whose browser pages may call the API from
// another origin. The zero value allows none.
type CORSOptions struct {
	// Origins lists the allowed origins, each scheme://host[:port] exactly as
	// a browser sends it in the Origin header, such as
	// "https://app.example.com". "*" allows every origin, without
	// credentials; it is refused when auth is on, because a token in a
	// cookie must only be sent from listed origins. Empty means none.
	Origins []string
	// MaxAge is how long a browser may cache a preflight's answer. Zero
	// means 10 minutes.
	MaxAge time.Duration
}

// cors applies CORSOptions. It is read-only after newCORS.
type cors struct {
	origins     []string
	any         bool // "*" is listed
	credentials bool // send Access-Control-Allow-Credentials
	maxAge      string
}

// newCORS checks opts; authOn says whether tokens may come in cookies.
func newCORS(opts CORSOptions, authOn bool) (*cors, error) {
	c := &cors{credentials: authOn}
	for _, o := range opts.Origins {
		if o == "*" {
			if authOn {
				return nil, errors.New(`server: CORS origin "*" is not allowed with auth on: list the origins`)
			}
			c.any = true
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil {
			return nil, fmt.Errorf("server: CORS origin %q: want scheme://host[:port], such as https://app.example.com", o)
		}
		c.origins = append(c.origins, strings.ToLower(o))
	}
	maxAge := opts.MaxAge
	if maxAge <= 0 {
		maxAge = 10 * time.Minute
	}
	c.maxAge = strconv.Itoa(int(maxAge / time.Second))
	return c, nil
}

// allowed reports whether a request from origin gets CORS headers.
func (c *cors) allowed(origin string) bool {
	return c.any || slices.Contains(c.origins, strings.ToLower(origin))
}

// wrap answers preflights itself and adds CORS headers to the answers of
// next for allowed origins. Requests from other origins get no CORS
// headers (a preflight from one gets 403), so browsers refuse to show
// them to the page.
func (c *cors) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		h := w.Header()
		if c.any || len(c.origins) > 0 {
			h.Add("Vary", "Origin") // the answer depends on it, for caches
		}
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
		if !c.allowed(origin) {
			if preflight {
				writeError(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed (see --cors-origins)", origin))
				return
			}
			next.ServeHTTP(w, r)
			return
		}
		if c.any {
			h.Set("Access-Control-Allow-Origin", "*")
		} else {
			h.Set("Access-Control-Allow-Origin", origin)
		}
		if c.credentials {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
		if !preflight {
			// Mercure's reconnection cursor, for pages that read it, and
			// the subscription API's, on its Link header.
			h.Set("Access-Control-Expose-Headers", "Mercure-Last-Event-ID, "+sse.LastEventIDHeader+", Link")
			next.ServeHTTP(w, r)
			return
		}
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, "+sse.LastEventIDHeader)
		h.Set("Access-Control-Max-Age", c.maxAge)
		w.WriteHeader(http.StatusNoContent)
	})
}
