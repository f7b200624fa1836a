package mercure_test

import (
	"fmt"
	"net/http"

	"github.com/heraldsse/herald/mercure"
)

// An application points clients to the hub with a Link header on the
// resources the hub pushes updates of, and the ID of the last update it
// published, so that none is lost between the page and the subscription.
func ExampleLink_AddTo() {
	h := http.Header{}
	err := mercure.Link{
		Hub:         "https://example.com/.well-known/mercure",
		LastEventID: "urn:uuid:5e94c686-2c0b-4f9b-958c-92ccc3bbb4eb",
	}.AddTo(h)
	fmt.Println(h.Get("Link"), err)
	// Output: <https://example.com/.well-known/mercure>; rel="mercure"; last-event-id="urn:uuid:5e94c686-2c0b-4f9b-958c-92ccc3bbb4eb" <nil>
}

// A topic in the hub's own namespace is refused, however it is spelled:
// percent-encoded, with dot-segments, or on another host.
func ExampleHubURL_Reserved() {
	hub, _ := mercure.ParseHubURL("https://example.com/.well-known/mercure")
	for _, topic := range []string{
		"https://example.com/books/1",
		"/.well-known/%6Dercure/subscriptions",
		"https://other.example/.well-known/mercure/../mercure/x",
	} {
		fmt.Println(hub.Reserved(topic), topic)
	}
	// Output:
	// false https://example.com/books/1
	// true /.well-known/%6Dercure/subscriptions
	// true https://other.example/.well-known/mercure/../mercure/x
}
