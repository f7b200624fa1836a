package client_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/client"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/rawstream"
	"github.com/heraldsse/herald/internal/testenv"
)

// oraclePage opens one EventSource per case, all at once, and records in
// window.results every event each dispatches (lastEventId, type, data) for
// "message" and the named types, until the source closes for good.
const oraclePage = `<!doctype html>
<meta charset="utf-8">
<title>EventSource oracle</title>
<link rel="icon" href="data:,">
<script>
const cases = %s;
const types = ["message", ...%s];
window.results = {};
for (const name of cases) {
	const r = {events: [], done: false};
	results[name] = r;
	const es = new EventSource("/case/" + encodeURIComponent(name));
	const record = e => r.events.push({id: e.lastEventId, type: e.type, data: e.data});
	for (const t of types) es.addEventListener(t, record);
	es.onerror = () => { if (es.readyState === EventSource.CLOSED) r.done = true; };
}
</script>`

// browserResult is one case's record in the page.
type browserResult struct {
	Events []rawstream.Event `json:"events"`
	Done   bool              `json:"done"`
}

// TestBrowserOracle serves each tricky stream (then 204) to headless
// Chromium's EventSource and to the Go client, and checks that both
// dispatch the same events, with the same types, data and lastEventId,
// and send the same Last-Event-ID on each request. The table's own
// expectations are checked against both too, so a case the browser
// disagrees with is reported as the table's mistake or the client's.
//
// Cases that break a connection are left out: Chromium logs the broken
// load as an error, which browsertest.Start turns into a failure. (They
// agreed when last run by hand without that check.)
func TestBrowserOracle(t *testing.T) {
	chromium := testenv.NeedChromium(t)

	cases := slices.DeleteFunc(rawstream.Cases(), func(c rawstream.Case) bool {
		return slices.ContainsFunc(c.Responses, func(r rawstream.Response) bool { return r.Abort })
	})
	names := make([]string, len(cases))
	browserHandlers := make(map[string]*rawstream.Handler)
	mux := http.NewServeMux()
	for i, tc := range cases {
		names[i] = tc.Name
		h := rawstream.NewHandler(tc)
		browserHandlers[tc.Name] = h
		mux.Handle("/case/"+tc.Name, h)
	}
	namesJSON, _ := json.Marshal(names)
	typesJSON, _ := json.Marshal(rawstream.Types())
	page := fmt.Sprintf(oraclePage, namesJSON, typesJSON)
	mux.HandleFunc("/{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, page)
	})
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)

	// The Go client reads the same streams, each from its own server,
	// while the browser works.
	type goResult struct {
		events []rawstream.Event
		err    error
		h      *rawstream.Handler
	}
	goResults := make(map[string]goResult)
	for _, tc := range cases {
		h := rawstream.NewHandler(tc)
		gts := serve(t, h)
		c := newConn(t, gts.URL, client.Options{})
		instant(c)
		events, err := collect(t.Context(), c)
		goResults[tc.Name] = goResult{events, err, h}
	}

	tab := browsertest.Start(t, chromium)
	ctx, cancel := context.WithTimeout(tab, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.Navigate(ts.URL+"/")); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	// Every source closes after its last response, once the browser has
	// waited its reconnection time (3 s by default) and got the 204.
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`Object.values(window.results).every(r => r.done)`,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		results, _ := chromedp.Run(ctx, chromedp.Evaluate[map[string]browserResult](`window.results`))
		t.Fatalf("waiting for every EventSource to close: %v\nresults: %+v", err, results)
	}
	results, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]browserResult](`window.results`))
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range cases {
		t.Run(tc.Name, func(t *testing.T) {
			browser, gr := results[tc.Name], goResults[tc.Name]
			if gr.err != nil {
				t.Errorf("Go client ended with %v, want nil after 204", gr.err)
			}
			if !slices.Equal(gr.events, browser.Events) {
				t.Errorf("events differ:\nbrowser %q\n     Go %q", browser.Events, gr.events)
			}
			if want := tc.Want(); !slices.Equal(browser.Events, want) {
				t.Errorf("the browser disagrees with the table:\nbrowser %q\n  table %q", browser.Events, want)
			}
			bReqs, gReqs := browserHandlers[tc.Name].Requests(), gr.h.Requests()
			if len(bReqs) != len(gReqs) {
				t.Errorf("browser made %d requests, Go %d", len(bReqs), len(gReqs))
			}
			for i := range min(len(bReqs), len(gReqs)) {
				b, g := bReqs[i], gReqs[i]
				if b.LastEventID != g.LastEventID || b.HasLastEventID != g.HasLastEventID {
					t.Errorf("request %d: browser sent Last-Event-ID %q (present %v), Go %q (present %v)",
						i+1, b.LastEventID, b.HasLastEventID, g.LastEventID, g.HasLastEventID)
				}
			}
			for _, d := range browserHandlers[tc.Name].Check() {
				t.Errorf("browser: %s", d)
			}
		})
	}
}
