package api_test

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"

	"github.com/heraldsse/herald/api"
)

// TestRedactURL names what must not reach a log: a password, a token in
// the query (once or twice, empty or not), and what must: the rest.
func TestRedactURL(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{name: "nothing_to_hide", in: "http://h/events?topic=chat", want: "http://h/events?topic=chat"},
		{name: "token", in: "/events?topic=chat/a&access_token=eyJsecret.payload.sig",
			want: "/events?access_token=REDACTED&topic=chat%2Fa"},
		{name: "token_twice", in: "http://h/events?access_token=a&access_token=b", want: "http://h/events?access_token=REDACTED"},
		{name: "empty_token", in: "http://h/events?access_token=", want: "http://h/events?access_token=REDACTED"},
		{name: "password", in: "https://user:s3cret@h/events", want: "https://user:xxxxx@h/events"},
		{name: "password_and_token", in: "https://user:s3cret@h/?access_token=t0k", want: "https://user:xxxxx@h/?access_token=REDACTED"},
		{name: "token_named_in_another_case_is_not_herald's", in: "http://h/?Access_Token=x", want: "http://h/?Access_Token=x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := url.Parse(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			before := u.String()
			if got := api.RedactURL(u); got != tt.want {
				t.Errorf("RedactURL(%s) = %q, want %q", tt.in, got, tt.want)
			}
			if u.String() != before {
				t.Errorf("RedactURL changed its argument to %s", u)
			}
		})
	}
}

// TestPublishRequestJSON pins the field names and which fields are left
// out when empty: the server decodes this shape with unknown fields
// refused, so a renamed field breaks every client.
func TestPublishRequestJSON(t *testing.T) {
	tests := []struct {
		name string
		req  api.PublishRequest
		want string
	}{
		{name: "topic_only", req: api.PublishRequest{Topic: "t"}, want: `{"topic":"t"}`},
		{name: "text", req: api.PublishRequest{Topic: "t", Data: api.Text("hi")}, want: `{"topic":"t","data":"hi"}`},
		{name: "json_value", req: api.PublishRequest{Topic: "t", Data: json.RawMessage(`{"n":1}`)}, want: `{"topic":"t","data":{"n":1}}`},
		{name: "every_field", req: api.PublishRequest{Topic: "t", Type: "note", Data: api.Text(""), Retry: 1500},
			want: `{"topic":"t","type":"note","data":"","retry":1500}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.req)
			if string(b) != tt.want || err != nil {
				t.Errorf("Marshal(%+v) = %s, %v; want %s", tt.req, b, err, tt.want)
			}
		})
	}
	if b, err := json.Marshal(api.PublishResponse{ID: "1-2"}); string(b) != `{"id":"1-2"}` || err != nil {
		t.Errorf("Marshal(PublishResponse) = %s, %v", b, err)
	}
	if b, err := json.Marshal(api.Error{Error: "no"}); string(b) != `{"error":"no"}` || err != nil {
		t.Errorf("Marshal(Error) = %s, %v", b, err)
	}
}

// TestText checks that Text's JSON decodes to the same string, for text
// that JSON must escape: quotes, backslashes, line ends, control
// characters, HTML's special characters and non-ASCII.
func TestText(t *testing.T) {
	for _, s := range []string{"", "plain", `"quoted" \ back`, "a\r\nb\n", "\x00\x1f", "<b>&amp;</b>", "héllo 世界 😀", strings.Repeat("x", 1<<16)} {
		var got string
		if err := json.Unmarshal(api.Text(s), &got); err != nil || got != s {
			t.Errorf("Unmarshal(Text(%.40q)) = %.40q, %v; want it back", s, got, err)
		}
	}
}
