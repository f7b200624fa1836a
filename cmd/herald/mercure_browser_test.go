package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/mercure"
)

// TestMercureBrowser is a browser app on herald's Mercure hub, in headless
// Chromium, against a node started with exactly the conformance suite's
// flags: the page subscribes with EventSource (an exact matcher and a URL
// pattern) and publishes with fetch and a Bearer token, as apps written for
// the reference hub do; a multi-line update, a typed one and one on an
// alternate topic arrive with their IDs; a second EventSource resumes
// with last_event_id (EventSource cannot send Last-Event-ID the first
// time) and gets what it missed. Every wait polls the page; none sleeps.
func TestMercureBrowser(t *testing.T) {
	chromium := testenv.NeedChromium(t)
	n := startServe(t, conformanceFlags...)
	tab := browsertest.Start(t, chromium)
	ctx, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()

	poll := func(what, expr string) {
		t.Helper()
		browsertest.Poll(ctx, t, 10*time.Second, what, expr)
	}
	eval := func(js string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](js)); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	// publish posts the form pairs with fetch and returns "status body".
	publish := func(pairs ...string) string {
		t.Helper()
		var js []string
		for i := 0; i+1 < len(pairs); i += 2 {
			js = append(js, fmt.Sprintf("[%s, %s]", strconv.Quote(pairs[i]), strconv.Quote(pairs[i+1])))
		}
		eval(fmt.Sprintf(`window.published = undefined;
			fetch(%q, {method: "POST", headers: {Authorization: "Bearer " + %q}, body: new URLSearchParams([%s])})
				.then(async r => { window.published = r.status + " " + await r.text(); })
				.catch(e => { window.published = "error " + e; });`,
			mercurePath, publisherToken(t), strings.Join(js, ", ")))
		poll("the publish's answer", `window.published !== undefined`)
		got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`window.published`))
		if err != nil {
			t.Fatal(err)
		}
		return got
	}

	// The app's page: any page of the hub's origin will do.
	if err := chromedp.Do(ctx, chromedp.Navigate(n.url+"/")); err != nil {
		t.Fatal(err)
	}
	eval(fmt.Sprintf(`
		window.subscribe = (name, query) => {
			const got = window[name] = [];
			const es = new EventSource(%q + "?" + query);
			const keep = e => got.push({type: e.type, data: e.data, id: e.lastEventId});
			es.onmessage = keep;
			es.addEventListener("book", keep);
			es.onopen = () => { es.opened = true; };
			window[name + "Source"] = es;
		};
		subscribe("live", new URLSearchParams([["match", %q], ["match_urlpattern", "https://example.com/authors/:id"]]).toString());`,
		mercurePath, topicA))
	poll("the EventSource to open", `liveSource.opened === true`)

	first := publish("topic", topicA, "data", "line 1\nline 2")
	second := publish("topic", topicA, "data", `{"title":"typed"}`, "type", "book", "id", "urn:uuid:browser-2")
	third := publish("topic", "https://example.com/elsewhere", "topic", "https://example.com/authors/7", "data", "alternate")
	for _, got := range []string{first, second, third} {
		if !strings.HasPrefix(got, "200 ") {
			t.Fatalf("fetch publish answered %q, want 200 and the ID", got)
		}
	}
	id := func(answer string) string { return strings.TrimPrefix(answer, "200 ") }
	want := fmt.Sprintf(`[{"data":"line 1\nline 2","id":%q,"type":"message"},{"data":"{\"title\":\"typed\"}","id":"urn:uuid:browser-2","type":"book"},{"data":"alternate","id":%q,"type":"message"}]`, id(first), id(third))
	poll("three updates", `live.length === 3`)
	got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`JSON.stringify(live.map(e => ({data: e.data, id: e.id, type: e.type})))`))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("EventSource received\n%s\nwant\n%s", got, want)
	}

	// A page opened later resumes from the first update's ID.
	eval(fmt.Sprintf(`subscribe("resumed", new URLSearchParams([["match", %q], ["last_event_id", %q]]).toString());`, topicA, id(first)))
	poll("the replay", `resumed.length === 1`)
	if got, err := chromedp.Run(ctx, chromedp.Evaluate[string](`resumed[0].id`)); err != nil || got != "urn:uuid:browser-2" {
		t.Errorf("resumed after %s: first event ID %q, %v; want urn:uuid:browser-2", id(first), got, err)
	}
	// And one resuming from "earliest" gets them all.
	eval(fmt.Sprintf(`subscribe("earliest", new URLSearchParams([["match", %q], ["last_event_id", %q]]).toString());`, topicA, mercure.EarliestID))
	poll("the replay from the earliest", `earliest.length === 2 && earliest[0].data === "line 1\nline 2"`)
	browsertest.Screenshot(ctx, t, "mercure.png")
}
