package apps

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

// web holds the pages (layout.html, index.html, one file per app) and the
// assets served under /static/: plain HTML, CSS and JavaScript, no build step.
//
//go:embed web
var web embed.FS

// app is one entry of the index: a page at /apps/<Slug>, built from
// web/<Slug>.html, with its script at /static/<Slug>.js.
type app struct {
	Slug    string
	Title   string
	Summary string
	Routes  []string // the endpoints the page uses, as "METHOD /path"
}

// section is a group of apps on the index.
type section struct {
	ID    string // the fragment that names the section on the index
	Title string
	Intro string
	Apps  []app
}

// catalog lists every app, in the order of the index. A new app is one more
// entry here, plus web/<slug>.html and web/static/<slug>.js.
var catalog = []section{{
	ID:    "tutorial",
	Title: "The tutorial's examples",
	Intro: "Each example of the Flask Server-Sent Events tutorial, served by herald at the routes the tutorial gives it.",
	Apps: []app{{
		Slug:    "counter",
		Title:   "Live counter",
		Summary: "The first example: a count and the server's clock, pushed once a second as unnamed events and read with onmessage.",
		Routes:  []string{"GET /stream"},
	}, {
		Slug:    "named-events",
		Title:   "Named events",
		Summary: "One stream carrying two event types, counter and time, each with its own listener.",
		Routes:  []string{"GET /advanced-stream"},
	}, {
		Slug:    "event-ids",
		Title:   "Event IDs and resuming",
		Summary: "Numbered events: drop the connection and the stream picks up after the last ID the browser saw.",
		Routes:  []string{"GET /stream-with-id"},
	}, {
		Slug:    "task-monitor",
		Title:   "Task progress monitor",
		Summary: "Start background tasks and watch each one's progress bar fill, several at once, one stream per task.",
		Routes:  []string{"POST /start-task", "GET /task-progress/{task_id}"},
	}},
}, {
	ID:    "exercises",
	Title: "Exercises",
	Intro: "The tutorial's closing exercises, built as apps on the hub with its public API, the way your own app would be.",
	Apps: []app{{
		Slug:    "metrics",
		Title:   "System metrics",
		Summary: "CPU, memory, load, network and herald's own event rates, sampled once a second and drawn as live charts.",
		Routes:  []string{"GET /events?topic=system/metrics", "GET /metrics/history"},
	}, {
		Slug:    "chat",
		Title:   "Chat notifications",
		Summary: "Chat rooms on one stream for all of them: the room you read updates live, the others show an unread count and a notice.",
		Routes:  []string{"POST /chat/messages", "GET /chat/history", "GET /events?topic=chat/*"},
	}, {
		Slug:    "stocks",
		Title:   "Stock ticker",
		Summary: "A simulated market of twenty symbols: pick some, and the page follows exactly their topics, with flashing prices and sparklines.",
		Routes:  []string{"GET /stocks/symbols", "GET /events?topic=stocks/{SYMBOL}"},
	}, {
		Slug:    "tasks",
		Title:   "Task board",
		Summary: "Start many background tasks, cancel any of them, reload the page: it finds its tasks again and follows them all on one stream.",
		Routes:  []string{"POST /start-task", "DELETE /tasks/{id}", "GET /task-events?task=A&task=B"},
	}, {
		Slug:    "reconnect",
		Title:   "Reconnection and recovery",
		Summary: "A numbered sequence with its connection state, replay counts and a running check for gaps; drop the stream and watch it resume with nothing missed.",
		Routes:  []string{"GET /reconnect/stream?client=ID", "POST /reconnect/drop?client=ID"},
	}},
}}

// pageData is what the templates see.
type pageData struct {
	App      *app // nil on the index
	Sections []section
}

// renderPages renders the index and every app's page once: they do not
// change while the server runs. It returns them by path.
func renderPages() (map[string][]byte, error) {
	pages := make(map[string][]byte)
	render := func(urlPath, file string, data pageData) error {
		t, err := template.ParseFS(web, "web/layout.html", "web/"+file)
		if err != nil {
			return fmt.Errorf("apps: parse %s: %w", file, err)
		}
		var b bytes.Buffer
		if err := t.ExecuteTemplate(&b, "layout", data); err != nil {
			return fmt.Errorf("apps: render %s: %w", file, err)
		}
		pages[urlPath] = b.Bytes()
		return nil
	}
	if err := render("/{$}", "index.html", pageData{Sections: catalog}); err != nil {
		return nil, err
	}
	for _, s := range catalog {
		for i := range s.Apps {
			a := &s.Apps[i]
			if err := render("/apps/"+a.Slug, a.Slug+".html", pageData{App: a, Sections: catalog}); err != nil {
				return nil, err
			}
		}
	}
	return pages, nil
}

// contentSecurityPolicy keeps the pages to their own origin: no inline
// script, nothing from a CDN.
const contentSecurityPolicy = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"

// pageHandler serves a rendered page.
func pageHandler(body []byte) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-cache")
		_, _ = w.Write(body)
	}
}

// serveStatic serves a file of web/static under /static/. Directories are
// not listed.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	clean := path.Clean(r.URL.Path)
	name := path.Join("web", clean)
	if info, err := fs.Stat(web, name); err != nil || info.IsDir() || !strings.HasPrefix(clean, "/static/") {
		writeError(w, http.StatusNotFound, "no file at "+r.URL.Path)
		return
	}
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	http.ServeFileFS(w, r, web, name)
}
