package mercure

import (
	"errors"
	"math"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
)

// Tests of draft-dunglas-mercure, section "Publication".

// parse runs the publish parser with the default hub URL and limits.
func parse(t *testing.T, body string) (Update, error) {
	t.Helper()
	h, _ := newTestHandler(t, nil)
	return parsePublishForm(body, h.url, h.limits)
}

// wantErr fails unless err wraps want (nil meaning no error).
func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil && err != nil || want != nil && !errors.Is(err, want) {
		t.Fatalf("error = %v, want %v", err, want)
	}
}

func TestPublish_MUST_be_form_encoded(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, tc := range []struct {
		name, contentType string
		want              error
	}{
		{"form", "application/x-www-form-urlencoded", nil},
		{"form with UTF-8 charset", "application/x-www-form-urlencoded; charset=UTF-8", nil},
		{"form in upper case", "Application/X-WWW-Form-URLEncoded", nil},
		{"JSON", "application/json", ErrUnsupportedMediaType},
		{"multipart form", "multipart/form-data; boundary=x", ErrUnsupportedMediaType},
		{"no Content-Type", "", ErrUnsupportedMediaType},
		{"form in Latin-1", "application/x-www-form-urlencoded; charset=ISO-8859-1", ErrUnsupportedMediaType},
		{"malformed media type", "application/x-www-form-urlencoded; charset", ErrUnsupportedMediaType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := publishRequest("topic=a", "")
			r.Header.Set("Content-Type", tc.contentType)
			_, err := h.ParsePublish(r)
			wantErr(t, err, tc.want)
		})
	}
}

func TestPublish_MUST_contain_a_topic(t *testing.T) {
	for _, body := range []string{"", "data=x", "topics=a", "Topic=a", "&&"} {
		t.Run(body, func(t *testing.T) {
			_, err := parse(t, body)
			wantErr(t, err, ErrBadRequest)
		})
	}
}

func TestPublish_topic_MAY_repeat_canonical_first(t *testing.T) {
	u, err := parse(t, form("topic", "https://example.com/books/1", "data", "x", "topic", "https://example.com/users/42/books/1", "topic", "b"))
	wantErr(t, err, nil)
	want := []string{"https://example.com/books/1", "https://example.com/users/42/books/1", "b"}
	if !slices.Equal(u.Topics, want) {
		t.Fatalf("Topics = %q, want %q", u.Topics, want)
	}
}

func TestPublish_MUST_reject_reserved_namespace(t *testing.T) {
	for _, tc := range []struct {
		name, topic string
		reserved    bool
	}{
		{"hub path", "/.well-known/mercure", true},
		{"under the hub path", "/.well-known/mercure/subscriptions/exact/a/b", true},
		{"absolute, the hub's host", "https://localhost/.well-known/mercure/subscriptions", true},
		{"absolute, another host", "https://hub.example.com/.well-known/mercure/subscriptions/x", true},
		{"another scheme", "ws://x/.well-known/mercure", true},
		{"non-special scheme", "mailto:/.well-known/mercure/x", true},
		{"percent-encoded unreserved letter", "/.well-known/%6Dercure/x", true},
		{"percent-encoded lower-case hex", "/.well-known/%6d%65rcure", true},
		{"percent-encoded dot and dash", "/%2Ewell%2Dknown/mercure", true},
		{"dot-segments", "/.well-known/mercure/../mercure/x", true},
		{"dot-segments out of the namespace and back", "/a/../.well-known/./mercure", true},
		{"encoded dot-segment", "/x/%2e%2e/.well-known/mercure", true},
		{"decoding reveals a dot-segment", "/x/%2E%2e/.well-known/mercure/y", true},
		{"backslashes in a special URL", `\.well-known\mercure`, true},
		{"network-path reference", "//evil.example/.well-known/mercure", true},
		{"relative path resolving to the hub", "mercure", true},
		{"empty topic resolves to the hub URL", "", true},
		{"query does not matter", "/.well-known/mercure?x=1", true},
		{"fragment does not matter", "/.well-known/mercure#x", true},
		{"a longer last segment", "/.well-known/mercurex", false},
		{"an encoded slash is not a slash", "/.well-known/mercure%2Fsubscriptions", false},
		{"case differs", "/.well-known/Mercure/x", false},
		{"relative topic elsewhere", "foo", false},
		{"URN", "urn:uuid:e1ee88e2-532a-4d6f-ba70-f0f8bd584022", false},
		{"opaque path", "foo:.well-known/mercure", false},
		{"ordinary URL", "https://example.com/books/1", false},
		{"not a URL reference", "https://exa mple.com/", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, form("topic", "https://example.com/ok", "topic", tc.topic))
			if tc.reserved {
				wantErr(t, err, ErrReservedTopic)
				wantErr(t, err, ErrBadRequest)
			} else {
				wantErr(t, err, nil)
			}
		})
	}
}

func TestPublish_reserved_namespace_follows_the_hub_path(t *testing.T) {
	h, err := ParseHubURL("https://example.com/hub")
	if err != nil {
		t.Fatal(err)
	}
	for topic, want := range map[string]bool{
		"/hub": true, "/hub/x": true, "https://other/h%75b/x": true, "/hubx": false,
		"/.well-known/mercure/x": false, "x": false,
	} {
		if got := h.Reserved(topic); got != want {
			t.Errorf("Reserved(%q) = %v, want %v", topic, got, want)
		}
	}
}

func TestPublish_MUST_reject_wildcard_topic(t *testing.T) {
	for _, body := range []string{"topic=*", "topic=a&topic=*", "topic=%2A"} {
		_, err := parse(t, body)
		wantErr(t, err, ErrReservedTopic)
	}
	if _, err := parse(t, "topic=**"); err != nil {
		t.Fatalf(`"**" is an ordinary topic: %v`, err)
	}
}

// badText lists values the draft forbids in topics, IDs and types.
var badText = []struct{ name, value string }{
	{"NUL", "a\x00b"},
	{"LF", "a\nb"},
	{"CR", "a\rb"},
	{"tab", "a\tb"},
	{"unit separator", "a\x1fb"},
	{"DEL", "a\x7fb"},
	{"C1 NEL", "a\u0085b"},
	{"C1 end", "a\u009fb"},
	{"zero-width space", "a\u200bb"},
	{"right-to-left override", "a\u202eb"},
	{"byte order mark", "a\ufeffb"},
	{"soft hyphen", "a\u00adb"},
	{"tag character", "a\U000e0041b"},
	{"invalid UTF-8", "a\xffb"},
	{"lone surrogate bytes", "a\xed\xa0\x80b"},
}

func TestPublish_MUST_reject_control_and_format_characters_in_topics(t *testing.T) {
	for _, tc := range badText {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, form("topic", "ok", "topic", tc.value))
			wantErr(t, err, ErrBadRequest)
		})
	}
	if _, err := parse(t, form("topic", "https://example.com/livres/é/日本/🙂")); err != nil {
		t.Fatalf("non-ASCII topic refused: %v", err)
	}
}

func TestPublish_MUST_serialize_data_one_field_per_line(t *testing.T) {
	for _, tc := range []struct{ name, data, received string }{
		{"LF", "a\nb", "a\nb"},
		{"CRLF", "a\r\nb", "a\nb"},
		{"CR", "a\rb", "a\nb"},
		{"mixed and blank lines", "a\r\n\rb\n\nc", "a\n\nb\n\nc"},
		{"field injection", "x\nevent: mercure\nid: forged\nretry: 1", "x\nevent: mercure\nid: forged\nretry: 1"},
		{"empty", "", ""},
		{"leading space kept", " a", " a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := parse(t, form("topic", "a", "data", tc.data, "id", "urn:x"))
			wantErr(t, err, nil)
			if u.Data != tc.data {
				t.Fatalf("Data = %q, want %q as sent", u.Data, tc.data)
			}
			b, err := u.AppendEvent(nil)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := sse.NewDecoder(strings.NewReader(string(b))).Next()
			if err != nil {
				t.Fatalf("decoding %q: %v", b, err)
			}
			if ev.Data != tc.received || ev.ID != "urn:x" || ev.Type != "" {
				t.Fatalf("received %+v from %q, want data %q, id urn:x, no type", ev, b, tc.received)
			}
		})
	}
}

func TestPublish_MUST_mark_private_by_presence(t *testing.T) {
	for body, want := range map[string]bool{
		"topic=a":                 false,
		"topic=a&private=on":      true,
		"topic=a&private":         true,
		"topic=a&private=":        true,
		"topic=a&private=off":     true,
		"topic=a&private=false":   true,
		"topic=a&private=0":       true,
		"topic=a&Private=on":      false,
		"topic=a&private_=on":     false,
		"private=on&topic=a&x=on": true,
	} {
		u, err := parse(t, body)
		wantErr(t, err, nil)
		if u.Private != want {
			t.Errorf("%q: Private = %v, want %v", body, u.Private, want)
		}
	}
}

func TestPublish_MUST_reject_invalid_ids(t *testing.T) {
	bad := []struct{ name, value string }{{"leading #", "#1"}, {"only #", "#"}, {"earliest", "earliest"}}
	bad = append(bad, badText...)
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, form("topic", "a", "id", tc.value))
			wantErr(t, err, ErrBadRequest)
		})
	}
	for _, id := range []string{"urn:uuid:e1ee88e2-532a-4d6f-ba70-f0f8bd584022", `id-["a"]`, "a#b", "Earliest", "earliest2", "é", "1"} {
		u, err := parse(t, form("topic", "a", "id", id))
		wantErr(t, err, nil)
		if u.ID != id {
			t.Errorf("ID = %q, want %q", u.ID, id)
		}
	}
	if u, _ := parse(t, "topic=a&id="); u.ID != "" {
		t.Errorf("an empty id should leave the ID to the hub, got %q", u.ID)
	}
}

func TestPublish_MUST_reject_invalid_types(t *testing.T) {
	bad := append([]struct{ name, value string }{{"reserved mercure", "mercure"}}, badText...)
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, form("topic", "a", "type", tc.value))
			wantErr(t, err, ErrBadRequest)
		})
	}
	for _, typ := range []string{"Mercure", "mercure2", "book updated", "é"} {
		u, err := parse(t, form("topic", "a", "type", typ))
		wantErr(t, err, nil)
		if u.Type != typ {
			t.Errorf("Type = %q, want %q", u.Type, typ)
		}
	}
}

func TestPublish_MUST_reject_non_digit_retry(t *testing.T) {
	for _, v := range []string{"-1", "+1", "1.5", " 1", "1 ", "1e3", "0x10", "\u0663", "١٢", "3s"} {
		t.Run(v, func(t *testing.T) {
			_, err := parse(t, form("topic", "a", "retry", v))
			wantErr(t, err, ErrBadRequest)
		})
	}
	for v, want := range map[string]time.Duration{
		"0":                     0,
		"3000":                  3 * time.Second,
		"007":                   7 * time.Millisecond,
		"":                      0,
		"99999999999999999999":  time.Duration(math.MaxInt64/int64(time.Millisecond)) * time.Millisecond,
		"9223372036854":         time.Duration(math.MaxInt64/int64(time.Millisecond)) * time.Millisecond,
		"9223372036853":         9223372036853 * time.Millisecond,
		"000000000000000000001": time.Millisecond,
	} {
		u, err := parse(t, form("topic", "a", "retry", v))
		wantErr(t, err, nil)
		if u.Retry != want {
			t.Errorf("retry %q: Retry = %v, want %v", v, u.Retry, want)
		}
	}
}

func TestPublish_MUST_ignore_unknown_fields(t *testing.T) {
	u, err := parse(t, "topic=a&future=1&data=x&x-y=&lastEventID=2&match=3")
	wantErr(t, err, nil)
	if u.Data != "x" || len(u.Topics) != 1 {
		t.Fatalf("got %+v", u)
	}
}

func TestPublish_MUST_be_UTF8(t *testing.T) {
	for name, body := range map[string]string{
		"topic":              "topic=%FF",
		"data":               "topic=a&data=%C3%28",
		"id":                 "topic=a&id=%80",
		"unknown field":      "topic=a&other=%FF",
		"unknown field name": "topic=a&%FF=1",
		"overlong encoding":  "topic=a&data=%C0%AF",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parse(t, body)
			wantErr(t, err, ErrBadRequest)
		})
	}
}

func TestPublish_MUST_reject_over_limits_with_413(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) {
		o.Limits = Limits{MaxBody: 4096, MaxData: 100, MaxField: 50, MaxTopics: 3}
	})
	long := strings.Repeat("a", 51)
	for _, tc := range []struct{ name, body string }{
		{"body", "topic=a&data=" + strings.Repeat("b", 4096)},
		{"data", "topic=a&data=" + strings.Repeat("b", 101)},
		{"topic", "topic=" + long},
		{"id", "topic=a&id=" + long},
		{"type", "topic=a&type=" + long},
		{"retry", "topic=a&retry=" + strings.Repeat("1", 51)},
		{"topic count", "topic=a&topic=b&topic=c&topic=d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := h.ParsePublish(publishRequest(tc.body, ""))
			wantErr(t, err, ErrTooLarge)
		})
	}
	t.Run("at the limits", func(t *testing.T) {
		body := "topic=a&topic=b&topic=" + strings.Repeat("c", 50) + "&data=" + strings.Repeat("d", 100)
		if _, err := h.ParsePublish(publishRequest(body, "")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("body declared too long", func(t *testing.T) {
		r := publishRequest("topic=a", "")
		r.ContentLength = 5000
		_, err := h.ParsePublish(r)
		wantErr(t, err, ErrTooLarge)
	})
}

func TestPublish_single_valued_fields_take_the_first(t *testing.T) {
	u, err := parse(t, "topic=a&data=1&id=x&type=t&retry=5&data=2&id=y&type=mercure&retry=z")
	wantErr(t, err, nil)
	if u.Data != "1" || u.ID != "x" || u.Type != "t" || u.Retry != 5*time.Millisecond {
		t.Fatalf("got %+v, want the first of each", u)
	}
}

func TestForm_is_parsed_as_WHATWG_urlencoded(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []formPair
	}{
		{"a=1&b=2", []formPair{{"a", "1"}, {"b", "2"}}},
		{"a+b=c+d", []formPair{{"a b", "c d"}}},
		{"a=%2B%26%3D%25", []formPair{{"a", "+&=%"}}},
		{"a=100%&b=%zz&c=%4", []formPair{{"a", "100%"}, {"b", "%zz"}, {"c", "%4"}}},
		{"&&a&=x&", []formPair{{"a", ""}, {"", "x"}}},
		{"a=1;b=2", []formPair{{"a", "1;b=2"}}},
		{"a=b=c", []formPair{{"a", "b=c"}}},
		{"%e6%97%a5=%E6%97%A5", []formPair{{"日", "日"}}},
	} {
		var got []formPair
		_ = parseForm(tc.in, func(p formPair) error { got = append(got, p); return nil })
		if !slices.Equal(got, tc.want) {
			t.Errorf("parseForm(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestPublish_answers_200_text_plain_with_the_id(t *testing.T) {
	h, rh := newTestHandler(t, nil)
	tok := sign(t, claims([]string{"publish"}, "*"))
	for _, tc := range []struct{ body, id string }{{"topic=a&data=x", "#1"}, {"topic=a&id=urn:x", "urn:x"}} {
		w := serve(h, publishRequest(tc.body, tok))
		if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" || w.Body.String() != tc.id {
			t.Fatalf("%s: got %d %q %q, want 200 text/plain %q", tc.body, w.Code, w.Header().Get("Content-Type"), w.Body, tc.id)
		}
	}
	if len(rh.published) != 2 {
		t.Fatalf("hub got %d updates, want 2", len(rh.published))
	}
}
