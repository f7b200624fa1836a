package apps_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/server"
)

// serveWithAPI serves the apps on a new hub that keeps presence together
// with the hub's HTTP API (GET /events, GET /presence), as herald serve
// does, and returns the server's URL. When the test ends the apps close,
// then the hub, which ends every stream, then the server.
func serveWithAPI(t *testing.T, opts apps.Options) string {
	t.Helper()
	mux := http.NewServeMux()
	ts := serve(t, mux)
	opts.Hub = newPresenceHub(t)
	a := newApps(t, opts)
	api, err := server.New(server.Options{Hub: opts.Hub})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	api.Handle(mux)
	mux.Handle("/", a.Handler())
	return ts.URL
}

// newTab opens another tab in tab's browser and fails t on any JavaScript
// error in it, as browsertest.Start does for the first.
func newTab(t *testing.T, tab context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(tab)
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open a second tab: %v", err)
	}
	var wg sync.WaitGroup
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.IsException() || m.Type == chromedp.ConsoleError {
				t.Errorf("browser (second tab) %s at %s:%d", m, m.URL, m.Line+1)
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	return ctx
}

// poller returns a function that waits until a JavaScript expression is
// true in the page of ctx, failing t after 10 s.
func poller(t *testing.T, ctx context.Context) func(what, expr string) {
	return func(what, expr string) {
		t.Helper()
		browsertest.Poll(ctx, t, 10*time.Second, what, expr)
	}
}

// setName replaces the name in the chat page of ctx with name, typed.
func setName(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(document.getElementById("chat-user").value = "", true)`)); err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.ID("chat-user"), name)); err != nil {
		t.Fatal(err)
	}
}

// TestChatBrowser is two people in the chat: Ada reads the lobby, Bob posts
// in random; Ada's page counts it as unread on random and shows a notice,
// and finds it when she opens random. A page that joins random later reads
// it from the history.
func TestChatBrowser(t *testing.T) {
	chromium := testenv.NeedChromium(t)
	url := serveWithAPI(t, apps.Options{})

	tab := browsertest.Start(t, chromium)
	ada, cancel := context.WithTimeout(tab, 30*time.Second)
	defer cancel()
	bob, cancelBob := context.WithTimeout(newTab(t, tab), 30*time.Second)
	defer cancelBob()
	pollAda, pollBob := poller(t, ada), poller(t, bob)
	// joined is true once the page shows the room's history and follows
	// every room.
	joined := func(room string) string {
		return fmt.Sprintf(`document.getElementById("chat-messages").dataset.loaded === %q &&
			document.getElementById("chat-connection").dataset.state === "open"`, room)
	}

	// Ada follows the index's link and stays in the lobby.
	if err := chromedp.Do(ada, chromedp.Navigate(url+"/")); err != nil {
		t.Fatal(err)
	}
	resp, err := chromedp.RunResponse(ada, chromedp.Click(chromedp.CSS(`a[href="/apps/chat"]`)))
	if err != nil {
		t.Fatalf("follow the index's link to the chat: %v", err)
	}
	if resp.Status != http.StatusOK {
		t.Fatalf("/apps/chat: status %d", resp.Status)
	}
	pollAda("Ada in the lobby", joined("lobby"))
	setName(t, ada, "Ada")

	// Bob opens random and posts there, from the keyboard.
	if err := chromedp.Do(bob,
		chromedp.Navigate(url+"/apps/chat"),
		chromedp.Click(chromedp.CSS(`button[data-room="random"]`)),
	); err != nil {
		t.Fatal(err)
	}
	pollBob("Bob in random", joined("random"))
	setName(t, bob, "Bob")
	if err := chromedp.Do(bob,
		chromedp.SendKeys(chromedp.ID("chat-text"), "anyone for lunch?\r"),
	); err != nil {
		t.Fatal(err)
	}
	const hasLunch = `[...document.querySelectorAll("#chat-messages .chat-text")].filter(p => p.textContent === "anyone for lunch?").length === 1`
	pollBob("Bob's message in random", hasLunch)
	pollBob("the input cleared", `document.getElementById("chat-text").value === ""`)

	// Ada sees a badge on random and a notice, and nothing in the lobby.
	pollAda("the unread badge on random", `(() => {
		const b = document.querySelector('button[data-room="random"]');
		return b.dataset.unread === "1" && !b.querySelector(".chat-unread").hidden &&
			b.querySelector(".chat-unread").textContent === "1";
	})()`)
	pollAda("the notice", `(() => {
		const toast = document.getElementById("chat-toast");
		return !toast.hidden && toast.textContent.includes("#random") && toast.textContent.includes("from Bob:") &&
			toast.textContent.includes("anyone for lunch?");
	})()`)
	lobby, err := chromedp.Run(ada, chromedp.Evaluate[int](`document.querySelectorAll("#chat-messages li").length`))
	if err != nil {
		t.Fatal(err)
	}
	if lobby != 0 {
		t.Errorf("the lobby shows %d messages, want none", lobby)
	}
	browsertest.Screenshot(ada, t, "chat-notified.png")

	// Ada opens random: the message, once, and the badge is gone.
	if err := chromedp.Do(ada, chromedp.Click(chromedp.CSS(`button[data-room="random"]`))); err != nil {
		t.Fatal(err)
	}
	pollAda("Ada in random", joined("random"))
	pollAda("Bob's message once in Ada's random", hasLunch+` && document.querySelector('button[data-room="random"] .chat-unread').hidden`)

	// Ada answers; Bob, in random, gets it live with no badge.
	if err := chromedp.Do(ada,
		chromedp.SendKeys(chromedp.ID("chat-text"), "yes, at noon"),
		chromedp.Click(chromedp.CSS(`#chat-compose button[type="submit"]`)),
	); err != nil {
		t.Fatal(err)
	}
	pollAda("Ada's answer in her random", `[...document.querySelectorAll("#chat-messages .chat-text")].some(p => p.textContent === "yes, at noon")`)
	pollBob("Ada's answer live", `[...document.querySelectorAll("#chat-messages li")].some(li =>
		li.querySelector("strong").textContent === "Ada" && li.querySelector(".chat-text").textContent === "yes, at noon") &&
		document.querySelector('button[data-room="random"]').dataset.unread === "0"`)

	// A page that joins random now reads both from the history, in order.
	if err := chromedp.Do(bob, chromedp.Navigate(url+"/apps/chat?room=random")); err != nil {
		t.Fatal(err)
	}
	pollBob("the history of random", `(() => {
		const texts = [...document.querySelectorAll("#chat-messages .chat-text")].map(p => p.textContent);
		return document.getElementById("chat-messages").dataset.loaded === "random" &&
			texts.length === 2 && texts[0] === "anyone for lunch?" && texts[1] === "yes, at noon";
	})()`)

	// Ada creates a room by name.
	if err := chromedp.Do(ada, chromedp.SendKeys(chromedp.ID("chat-new-room-name"), "ops-team\r")); err != nil {
		t.Fatal(err)
	}
	pollAda("the new room", joined("ops-team")+
		` && document.querySelector('button[data-room="ops-team"]').getAttribute("aria-pressed") === "true"`)

	// On a phone.
	if err := chromedp.Do(bob, chromedp.EmulateViewport(400, 860)); err != nil {
		t.Fatal(err)
	}
	wide, err := chromedp.Run(bob, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > 400`))
	if err != nil {
		t.Fatal(err)
	}
	if wide {
		t.Error("the chat is wider than a 400 px screen")
	}
	browsertest.Screenshot(bob, t, "chat-phone.png")
}
