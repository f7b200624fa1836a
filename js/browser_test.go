package js_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/js"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

const testSecret = "herald-js-browser-test-secret-0123456789"

// testPage subscribes with herald.js as its query string says (topic,
// token: a token; tokenURL: fetch a fresh token there before each
// connection; last: a lastEventId; persist) and records what it reports in
// window.log.
const testPage = `<!doctype html>
<meta charset="utf-8">
<title>herald.js in Chromium</title>
<link rel="icon" href="data:,">
<script type="module">
import { subscribe } from "/herald.js";
const q = new URLSearchParams(location.search);
const log = { events: [], states: [], replayed: [], gaps: [], errors: [] };
window.log = log;
const options = {
  json: true,
  onEvent: (e) => log.events.push(e),
  onState: (s) => log.states.push(s),
  onReplayed: (n) => log.replayed.push(n),
  onGap: (g) => log.gaps.push(g),
  onError: (e) => log.errors.push({ message: e.message, status: e.status }),
};
if (q.has("token")) options.token = q.get("token");
if (q.has("tokenURL")) options.token = () => fetch(q.get("tokenURL")).then((r) => r.text());
if (q.has("last")) options.lastEventId = q.get("last");
if (q.has("persist")) options.persist = "session";
window.sub = subscribe("/events", q.getAll("topic"), options);
</script>
`

// browserHub serves herald's API (auth on, with open/* for anyone), herald.js
// at /herald.js, the test page at /page, more pages by path, and fresh
// short-lived tokens at /token, and returns the server's URL, the hub and a
// Chromium tab.
func browserHub(t *testing.T, pages map[string]string) (string, *hub.Hub, *server.Server, context.Context) {
	t.Helper()
	chromium := testenv.NeedChromium(t)
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), Retry: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	api, err := server.New(server.Options{Hub: h, Auth: &server.AuthOptions{
		Secret:             []byte(testSecret),
		AnonymousSubscribe: []string{"open/*"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Handle(mux)
	mux.Handle("GET /herald.js", js.Handler())
	for path, html := range map[string]string{"/page": testPage} {
		pages[path] = html
	}
	for path, html := range pages {
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(html))
		})
	}
	mux.HandleFunc("GET /token", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte(mint(t, "secret/*", 2*time.Second)))
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub Close: %v", err)
		}
		if err := api.Close(ctx); err != nil {
			t.Errorf("server Close: %v", err)
		}
	})
	return ts.URL, h, api, browsertest.Start(t, chromium)
}

// mint returns a token that may subscribe with pattern for ttl.
func mint(t *testing.T, pattern string, ttl time.Duration) string {
	t.Helper()
	now := time.Now()
	c := &server.Claims{
		Herald: server.Scope{Subscribe: []string{pattern}},
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	}
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// page drives one tab of the test page.
type page struct {
	t   *testing.T
	ctx context.Context
	h   *hub.Hub
}

func (p page) open(base string, q url.Values) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Navigate(base+"/page?"+q.Encode())); err != nil {
		p.t.Fatal(err)
	}
}

// until waits for a JavaScript expression over window.log and window.sub
// to be true.
func (p page) until(what, expr string) {
	p.t.Helper()
	if _, err := chromedp.Run(p.ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		log, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(window.log)`))
		p.t.Fatalf("waiting for %s: %v; the page's log: %s", what, err, log)
	}
}

// is fails the test unless the expression is true now.
func (p page) is(what, expr string) {
	p.t.Helper()
	ok, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](expr))
	if err != nil || !ok {
		log, _ := chromedp.Run(p.ctx, chromedp.Evaluate[string](`JSON.stringify(window.log)`))
		p.t.Fatalf("%s: %s is not true (%v); the page's log: %s", what, expr, err, log)
	}
}

// publish publishes n events {"n": from...} on topic and returns their IDs.
func (p page) publish(topic string, from, n int) []string {
	p.t.Helper()
	var ids []string
	for i := from; i < from+n; i++ {
		id, err := p.h.Publish(p.ctx, hub.Message{Topic: topic, Data: fmt.Sprintf(`{"n":%d}`, i)})
		if err != nil {
			p.t.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// ns is the expression of the n of each event the page has.
const ns = `JSON.stringify(log.events.map((e) => e.data.n))`

// TestBrowserEventSource follows an anonymous topic: herald.js takes the
// browser's EventSource, the page sees the states and events; reloaded, it
// resumes from the ID it kept in sessionStorage, over ?lastEventId=, and
// sees how many events it missed.
func TestBrowserEventSource(t *testing.T) {
	base, h, _, tab := browserHub(t, map[string]string{})
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, h: h}
	q := url.Values{"topic": {"open/a"}, "persist": {""}}

	p.open(base, q)
	p.until("open", `log.states.at(-1) === "open"`)
	p.is("the transport", `sub.transport === "eventsource" && JSON.stringify(log.states) === '["connecting","open"]'`)
	ids := p.publish("open/a", 1, 3)
	p.until("three events", `log.events.length === 3`)
	p.is("the events, in order, with their IDs", ns+` === "[1,2,3]" && log.events.every((e) => e.type === "message") &&
		log.events[2].lastEventId === `+strconv.Quote(ids[2])+` && sub.lastEventId === `+strconv.Quote(ids[2]))
	p.is("no replay count on a fresh stream", `log.replayed.length === 0 && sub.replayed === null`)

	// Away: the page is gone while two events are published.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	p.publish("open/a", 4, 2)
	p.open(base, q)
	p.until("the missed events and the count", `log.replayed.length === 1 && log.events.length === 2`)
	p.is("resumed from sessionStorage", ns+` === "[4,5]" && log.replayed[0] === 2 && sub.replayed === 2 && sub.transport === "eventsource"`)
	p.publish("open/a", 6, 1)
	p.until("the live event after", ns+` === "[4,5,6]"`)
}

// TestBrowserFetchToken subscribes to a topic that needs a token: herald.js
// sends it in an Authorization header over fetch, resumes with
// Last-Event-ID and reports the replay count; a token that expires ends
// the stream, and the token function's fresh one resumes it with nothing
// lost. Without a token, the EventSource is refused and herald.js says why.
func TestBrowserFetchToken(t *testing.T) {
	base, h, _, tab := browserHub(t, map[string]string{})
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, h: h}

	ids := p.publish("secret/a", 1, 4)
	p.open(base, url.Values{"topic": {"secret/a"}, "token": {mint(t, "secret/*", time.Hour)}, "last": {ids[1]}})
	p.until("the replay and its count", `log.replayed.length === 1`)
	p.is("fetch, the two events after the ID, then the count", `sub.transport === "fetch" && `+ns+` === "[3,4]" &&
		log.replayed[0] === 2 && JSON.stringify(log.states) === '["connecting","open"]'`)
	p.publish("secret/a", 5, 1)
	p.until("a live event", ns+` === "[3,4,5]"`)

	// Tokens of 2 s from /token: the stream ends as each expires.
	p.open(base, url.Values{"topic": {"secret/a"}, "tokenURL": {"/token"}})
	p.until("open", `log.states.at(-1) === "open"`)
	p.publish("secret/a", 6, 1)
	p.until("the first event", ns+` === "[6]"`)
	p.until("reconnected after the token expired", `log.states.includes("reconnecting") && log.states.at(-1) === "open"`)
	p.publish("secret/a", 7, 1)
	p.until("the event after", ns+` === "[6,7]"`)

	// No token: the EventSource fails; herald.js asks and reports the 401.
	// Chromium logs both refused loads as errors, which browsertest counts
	// as failures in its tab: this part runs in a tab of its own.
	refusedTab, cancelTab := chromedp.NewContext(tab)
	defer cancelTab()
	p.ctx, cancel = context.WithTimeout(refusedTab, 30*time.Second)
	defer cancel()
	p.open(base, url.Values{"topic": {"secret/a"}})
	p.until("closed", `log.states.at(-1) === "closed"`)
	p.is("refused with herald's reason", `sub.transport === "eventsource" && sub.error.status === 401 &&
		/401/.test(sub.error.message) && log.errors.length === 1 && log.events.length === 0`)
}

// TestBrowserReadmeExample runs the five lines at the top of js/README.md,
// as they are, in a page that defines token: the events print with their
// IDs, and after a reload the page says how many it missed.
func TestBrowserReadmeExample(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(readme), "```js\n")
	example, _, found := strings.Cut(rest, "```")
	if !found || strings.Count(example, "\n") != 5 {
		t.Fatalf("js/README.md's first example is not five lines:\n%s", example)
	}
	readmePage := `<!doctype html><meta charset="utf-8"><link rel="icon" href="data:,"><title>README</title>
<script type="module">
window.printed = [];
console.log = (...args) => printed.push(args.map((a) => typeof a === "string" ? a : JSON.stringify(a)).join(" "));
const token = ` + strconv.Quote(mint(t, "chat/*", time.Hour)) + `;
` + example + `</script>
`
	base, h, api, tab := browserHub(t, map[string]string{"/readme": readmePage})
	ctx, cancel := context.WithTimeout(tab, 60*time.Second)
	defer cancel()
	p := page{t: t, ctx: ctx, h: h}
	navigate := func(u string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(u)); err != nil {
			t.Fatal(err)
		}
	}

	navigate(base + "/readme")
	// The example exposes no state: the server says when its stream is
	// open (nothing else to await).
	deadline := time.Now().Add(15 * time.Second)
	for api.Streams() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the example's stream did not open within 15 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	ids := p.publish("chat/lobby", 1, 2)
	p.until("the events printed with their IDs", `JSON.stringify(printed) === `+strconv.Quote(
		`["`+ids[0]+` {\"n\":1}","`+ids[1]+` {\"n\":2}"]`))

	navigate("about:blank")
	p.publish("chat/lobby", 100, 3)
	navigate(base + "/readme")
	p.until("the replay count printed", `printed.includes("3 missed events replayed")`)
	p.is("the missed events printed before it", `JSON.stringify(printed.slice(0, 3).map((l) => l.split(" ")[1])) === '["{\\"n\\":100}","{\\"n\\":101}","{\\"n\\":102}"]' && printed[3] === "3 missed events replayed"`)
}
