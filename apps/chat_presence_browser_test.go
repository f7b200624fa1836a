package apps_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/browsertest"
	"github.com/heraldsse/herald/internal/testenv"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/server"
)

// newPresenceHub returns a hub on a memory log that keeps presence in a
// memory registry and announces it as herald serve does; the hub closes
// when the test ends, then the registry.
func newPresenceHub(t *testing.T) *hub.Hub {
	t.Helper()
	reg, err := presence.NewMemory(presence.MemoryOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close(context.Background()) })
	return newHubWith(t, hub.Options{Presence: reg, PresenceEvents: server.PresenceEvents})
}

// members is a JavaScript expression: the names the chat page lists in
// its room, in order, joined by "|", once the page has read who is there.
const members = `(document.getElementById("chat-members").dataset.room === "lobby" ?
	[...document.querySelectorAll("#chat-members li")].map(li => li.textContent).join("|") : "not read yet")`

// TestChatPresenceBrowsers opens the chat in two browsers (two Chromium
// processes): each lists itself and the other in the lobby, from the hub's
// presence; when Bob closes his tab, he disappears from Ada's list.
func TestChatPresenceBrowsers(t *testing.T) {
	chromium := testenv.NeedChromium(t)
	url := serveWithAPI(t, apps.Options{})

	adaBrowser := browsertest.Start(t, chromium)
	bobBrowser := browsertest.Start(t, chromium)
	ada, cancelAda := context.WithTimeout(adaBrowser, 40*time.Second)
	defer cancelAda()
	bobTab, closeBobTab := chromedp.NewContext(bobBrowser) // a tab Bob closes
	defer closeBobTab()
	bob, cancelBob := context.WithTimeout(bobTab, 40*time.Second)
	defer cancelBob()
	pollAda, pollBob := poller(t, ada), poller(t, bob)
	enter := func(ctx context.Context, name string) {
		t.Helper()
		if err := chromedp.Do(ctx, chromedp.Navigate(url+"/apps/chat")); err != nil {
			t.Fatal(err)
		}
		poller(t, ctx)("the page in the lobby", `document.getElementById("chat-members").dataset.room === "lobby"`)
		setName(t, ctx, name)
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("chat-user").dispatchEvent(new Event("change"))`)); err != nil {
			t.Fatal(err)
		}
	}

	enter(ada, "Ada")
	pollAda("Ada alone in the lobby", members+` === "Ada (you)"`)
	enter(bob, "Bob")
	pollBob("Bob sees Ada and himself", members+` === "Ada|Bob (you)"`)
	pollAda("Ada sees Bob join", members+` === "Ada (you)|Bob" && document.getElementById("chat-member-count").textContent === "2"`)
	browsertest.Screenshot(ada, t, "chat-presence.png")

	// Bob closes his tab: his stream ends, and Ada gets his leave.
	if err := chromedp.Cancel(bobTab); err != nil {
		t.Fatalf("close Bob's tab: %v", err)
	}
	pollAda("Bob gone from Ada's list", members+` === "Ada (you)" && document.getElementById("chat-member-count").textContent === "1"`)
}
