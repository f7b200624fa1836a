package mercure

import (
	"encoding/json"
	"errors"
	"testing"
)

// TestSubscriptionEvent_MUST_encode_each_variable_once: the draft's
// example document, byte for byte; a '%' in a matcher is encoded too.
func TestSubscriptionEvent_MUST_encode_each_variable_once(t *testing.T) {
	u, err := ParseHubURL("https://example.com/.well-known/mercure")
	if err != nil {
		t.Fatal(err)
	}
	doc := u.SubscriptionEvent(Matcher{MatchURLPattern, "https://example.com/:selector"}, "urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6", json.RawMessage(`{"foo":"bar"}`), true)
	b, _ := json.Marshal(doc)
	want := `{"id":"/.well-known/mercure/subscriptions/urlpattern/https%3A%2F%2Fexample.com%2F%3Aselector/urn%3Auuid%3Abb3de268-05b0-4c65-b44e-8f9acefc29d6","type":"subscription","match_type":"urlpattern","match":"https://example.com/:selector","subscriber":"urn:uuid:bb3de268-05b0-4c65-b44e-8f9acefc29d6","active":true,"payload":{"foo":"bar"}}`
	if string(b) != want {
		t.Errorf("document\n %s\nwant\n %s", b, want)
	}
	if got := u.SubscriptionTopic(Matcher{MatchExact, "https://example.com/a%2Fb é"}, "s"); got != "/.well-known/mercure/subscriptions/exact/https%3A%2F%2Fexample.com%2Fa%252Fb%20%C3%A9/s" {
		t.Errorf("topic of a matcher with %%2F and non-ASCII: %s", got)
	}
	if doc := u.SubscriptionEvent(Matcher{MatchExact, "a"}, "s", json.RawMessage("null"), false); doc.Payload != nil || doc.Active {
		t.Errorf("null payload, inactive: %+v", doc)
	}
	// A hub URL under a path prefix: the namespace follows it.
	p, _ := ParseHubURL("https://example.com/hub/")
	if got := p.SubscriptionsPath(); got != "/hub/subscriptions" {
		t.Errorf("subscriptions path under /hub/: %s", got)
	}
}

// TestSubscriptionsPath_bad_input: the API's paths, decoded and put back in
// the canonical form the token is checked against. Bad inputs tried: an
// unknown matcher type, one in another case, a broken escape, an empty
// variable, a control character, too many or too few segments, a path
// past the prefix.
func TestSubscriptionsPath_bad_input(t *testing.T) {
	u, _ := ParseHubURL(DefaultHubURL)
	base := "/.well-known/mercure/subscriptions"
	for _, c := range []struct {
		path, canonical, subscriber string
		err                         error
	}{
		{path: base, canonical: base},
		{path: base + "/exact/https%3A%2F%2Fexample.com%2Fa", canonical: base + "/exact/https%3A%2F%2Fexample.com%2Fa"},
		// Encoded otherwise (lower-case hex, ':' left as is, as
		// encodeURIComponent leaves '*'): the same resource, checked in
		// the canonical form.
		{path: base + "/urlpattern/https:%2f%2Fexample.com%2F*/urn:uuid:1", canonical: base + "/urlpattern/https%3A%2F%2Fexample.com%2F%2A/urn%3Auuid%3A1", subscriber: "urn:uuid:1"},
		// Double-encoded: another matcher, kept as it is.
		{path: base + "/exact/https%253A%252F%252Fexample.com", canonical: base + "/exact/https%253A%252F%252Fexample.com"},
		{path: base + "/regex/a", err: ErrBadRequest},
		{path: base + "/Exact/a", err: ErrBadRequest},
		{path: base + "/URLPattern/a", err: ErrBadRequest},
		{path: base + "/exact/%zz", err: ErrBadRequest},
		{path: base + "/exact/a%2", err: ErrBadRequest},
		{path: base + "/exact/", err: ErrBadRequest},
		{path: base + "/exact/a/", err: ErrBadRequest},
		{path: base + "/exact/a%0Ab", err: ErrBadRequest},
		{path: base + "/exact/a%E2%80%8Bb", err: ErrBadRequest},
		{path: base + "/exact", err: ErrNotFound},
		{path: base + "/exact/a/b/c", err: ErrNotFound},
		{path: base + "x", err: ErrNotFound},
		{path: "/.well-known/mercure", err: ErrNotFound},
	} {
		req, err := u.parseSubscriptionsPath(c.path)
		switch {
		case c.err != nil && !errors.Is(err, c.err):
			t.Errorf("%s: %v, want %v", c.path, err, c.err)
		case c.err == nil && err != nil:
			t.Errorf("%s: %v", c.path, err)
		case c.err == nil && (req.path != c.canonical || req.subscriber != c.subscriber):
			t.Errorf("%s: %q, subscriber %q; want %q, %q", c.path, req.path, req.subscriber, c.canonical, c.subscriber)
		}
	}
}

// FuzzSubscriptionsPath: any request path parses without panicking, and a
// path it accepts is put in a canonical form that parses to itself, with
// the same matcher and subscriber.
func FuzzSubscriptionsPath(f *testing.F) {
	u, _ := ParseHubURL(DefaultHubURL)
	base := u.SubscriptionsPath()
	for _, s := range []string{"", "/exact/a", "/urlpattern/https%3A%2F%2Fx%2F%3Aid/urn%3Auuid%3A1", "/exact/%zz", "/exact/a%2", "/regex/a", "/exact/%25/%2F", "/exact/caf%C3%A9/x", "/exact/%E2%80%8B"} {
		f.Add(base + s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		req, err := u.parseSubscriptionsPath(path)
		if err != nil {
			if !errors.Is(err, ErrBadRequest) && !errors.Is(err, ErrNotFound) {
				t.Fatalf("%q: error %v wraps neither ErrBadRequest nor ErrNotFound", path, err)
			}
			return
		}
		again, err := u.parseSubscriptionsPath(req.path)
		if err != nil || again.path != req.path || again.subscriber != req.subscriber || (again.matcher == nil) != (req.matcher == nil) ||
			req.matcher != nil && *again.matcher != *req.matcher {
			t.Fatalf("%q → %q → %+v, %v", path, req.path, again, err)
		}
		if req.matcher != nil && req.subscriber != "" && u.SubscriptionTopic(*req.matcher, req.subscriber) != req.path {
			t.Fatalf("%q: canonical %q is not the subscription's topic %q", path, req.path, u.SubscriptionTopic(*req.matcher, req.subscriber))
		}
	})
}
