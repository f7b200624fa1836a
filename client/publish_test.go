package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/client"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
)

// startHerald serves a real hub's API with opts until the test ends and
// returns its URL.
func startHerald(t *testing.T, hopts hub.Options, sopts server.Options) string {
	t.Helper()
	log := memory.New(memory.Options{})
	hopts.Log = log
	h, err := hub.New(hopts)
	if err != nil {
		t.Fatal(err)
	}
	sopts.Hub = h
	srv, err := server.New(sopts)
	if err != nil {
		t.Fatal(err)
	}
	ts := serve(t, srv)
	// Cleanups run last first: the hub ends its streams, then the server
	// closes.
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub Close: %v", err)
		}
		if err := srv.Close(ctx); err != nil {
			t.Errorf("server Close: %v", err)
		}
		log.Close()
	})
	return ts.URL
}

// TestPublish publishes events of every shape to a real hub, then reads
// them back with a Conn that resumes after a first, marker event: each
// arrives with the ID Publish returned and the data the API promises.
func TestPublish(t *testing.T) {
	base := startHerald(t, hub.Options{}, server.Options{})
	ctx := t.Context()
	marker, err := client.Publish(ctx, base, api.PublishRequest{Topic: "chat/lobby", Data: api.Text("marker")}, client.PublishOptions{})
	if err != nil {
		t.Fatalf("Publish(marker) = %v", err)
	}
	tests := []struct {
		name string
		url  string
		req  api.PublishRequest
		want sse.Event // without its ID
	}{
		{name: "text", url: base, req: api.PublishRequest{Topic: "chat/lobby", Data: api.Text("hi <b>&</b>\nline 2")},
			want: sse.Event{Data: "hi <b>&</b>\nline 2"}},
		{name: "json_value_compacted", url: base + "/", req: api.PublishRequest{Topic: "chat/a", Data: json.RawMessage(`{ "n" : [1, 2] }`)},
			want: sse.Event{Data: `{"n":[1,2]}`}},
		{name: "type_and_retry", url: base + "/events", req: api.PublishRequest{Topic: "chat/b", Type: "note", Data: api.Text("x"), Retry: 1500},
			want: sse.Event{Type: "note", Data: "x", Retry: 1500 * time.Millisecond}},
		{name: "no_data", url: base, req: api.PublishRequest{Topic: "chat/c"}, want: sse.Event{}},
	}
	var want []sse.Event
	for _, tt := range tests {
		id, err := client.Publish(ctx, tt.url, tt.req, client.PublishOptions{})
		if err != nil || id == "" {
			t.Fatalf("%s: Publish(%s, %+v) = %q, %v; want an ID", tt.name, tt.url, tt.req, id, err)
		}
		ev := tt.want
		ev.ID = id
		want = append(want, ev)
	}

	got := readAfter(t, base, "chat/**", marker, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d (%s) = %q, want %q", i, tests[i].name, got[i], want[i])
		}
	}
}

// TestPublishBatch publishes a batch to a real hub and reads it back: the
// events arrive in order with the IDs PublishBatch returned. A batch with
// a refused event (a wildcard topic) is a *StatusError naming it, and
// publishes nothing: the stream's next event is the one published after.
func TestPublishBatch(t *testing.T) {
	base := startHerald(t, hub.Options{}, server.Options{})
	ctx := t.Context()
	marker, err := client.Publish(ctx, base, api.PublishRequest{Topic: "b/marker"}, client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}
	reqs := []api.PublishRequest{
		{Topic: "b/1", Data: api.Text("one")},
		{Topic: "b/2", Type: "note", Data: json.RawMessage(`{"n":2}`)},
		{Topic: "b/1", Data: api.Text("three")},
	}
	ids, err := client.PublishBatch(ctx, base, reqs, client.PublishOptions{})
	if err != nil || len(ids) != 3 {
		t.Fatalf("PublishBatch = %q, %v; want 3 IDs", ids, err)
	}
	_, err = client.PublishBatch(ctx, base, []api.PublishRequest{{Topic: "b/1"}, {Topic: "b/*"}}, client.PublishOptions{})
	var se *client.StatusError
	if !errors.As(err, &se) || se.StatusCode != http.StatusBadRequest || !strings.Contains(se.Message, "event 1") {
		t.Errorf("PublishBatch with a wildcard topic = %v, want a 400 StatusError naming event 1", err)
	}
	after, err := client.Publish(ctx, base, api.PublishRequest{Topic: "b/after"}, client.PublishOptions{})
	if err != nil {
		t.Fatal(err)
	}

	want := []sse.Event{{ID: ids[0], Data: "one"}, {ID: ids[1], Type: "note", Data: `{"n":2}`}, {ID: ids[2], Data: "three"}, {ID: after}}
	got := readAfter(t, base, "b/*", marker, len(want))
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("event %d = %q, want %q", i, got[i], want[i])
		}
	}
}

// readAfter subscribes to pattern on the hub at base, resuming after the
// event lastID, and returns the first n events.
func readAfter(t *testing.T, base, pattern, lastID string, n int) []sse.Event {
	t.Helper()
	streamURL, err := client.EventsURL(base, pattern)
	if err != nil {
		t.Fatal(err)
	}
	c := newConn(t, streamURL, client.Options{LastEventID: lastID})
	var got []sse.Event
	for ev, err := range c.Events(t.Context()) {
		if err != nil {
			t.Fatalf("Events() = %v after %q", err, got)
		}
		if got = append(got, ev); len(got) == n {
			break
		}
	}
	return got
}

// TestPublishRefused checks what Publish returns when herald refuses the
// event, with herald's exact status and message; the bad inputs tried are
// a wildcard topic, an empty segment, a reserved type, data over the
// hub's limit, a body over the server's limit, a negative retry, and no
// token when auth is on.
func TestPublishRefused(t *testing.T) {
	base := startHerald(t, hub.Options{MaxDataSize: 8}, server.Options{MaxBodyBytes: 256})
	authed := startHerald(t, hub.Options{}, server.Options{Auth: &server.AuthOptions{Secret: []byte("0123456789abcdef0123456789abcdef")}})
	tests := []struct {
		name       string
		url        string
		req        api.PublishRequest
		wantStatus int
		wantMsg    string
	}{
		{name: "wildcard_topic", url: base, req: api.PublishRequest{Topic: "chat/*", Data: api.Text("x")},
			wantStatus: 400, wantMsg: `hub: invalid topic "chat/*": '*' is a wildcard, for subscribing only`},
		{name: "empty_segment", url: base, req: api.PublishRequest{Topic: "a//b"},
			wantStatus: 400, wantMsg: `hub: invalid topic "a//b": empty segment`},
		{name: "reserved_type", url: base, req: api.PublishRequest{Topic: "chat", Type: "herald:gap", Data: api.Text("x")},
			wantStatus: 400, wantMsg: `hub: invalid message: type "herald:gap" is reserved (types starting with "herald:" belong to the hub)`},
		{name: "data_too_large", url: base, req: api.PublishRequest{Topic: "chat", Data: api.Text("123456789")},
			wantStatus: 413, wantMsg: "hub: data too large: 9 bytes, limit 8"},
		{name: "body_too_large", url: base, req: api.PublishRequest{Topic: "chat", Data: api.Text(strings.Repeat("x", 300))},
			wantStatus: 413, wantMsg: "request body larger than 256 bytes"},
		{name: "negative_retry", url: base, req: api.PublishRequest{Topic: "chat", Retry: -1},
			wantStatus: 400, wantMsg: "retry must be between 0 and 86400000 milliseconds, got -1"},
		{name: "no_token", url: authed, req: api.PublishRequest{Topic: "chat", Data: api.Text("x")},
			wantStatus: 401, wantMsg: "publishing needs a token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := client.Publish(t.Context(), tt.url, tt.req, client.PublishOptions{})
			var se *client.StatusError
			if !errors.As(err, &se) || !errors.Is(err, client.ErrBadStatus) {
				t.Fatalf("Publish(%+v) = %q, %v; want a *StatusError", tt.req, id, err)
			}
			if se.StatusCode != tt.wantStatus || se.Message != tt.wantMsg || se.Method != http.MethodPost || se.URL != tt.url+"/events" {
				t.Errorf("Publish(%+v) = %+v; want POST %s/events, status %d, message %q", tt.req, se, tt.url, tt.wantStatus, tt.wantMsg)
			}
			wantText := "client: POST " + tt.url + "/events: " + se.Status + ": " + tt.wantMsg
			if err.Error() != wantText {
				t.Errorf("Publish error = %q, want %q", err, wantText)
			}
		})
	}
}

// TestPublishNotHerald checks Publish against what is not a herald hub
// answering: a text error, a success without an ID, a closed port, bad
// URLs and data that is not JSON.
func TestPublishNotHerald(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	fake := func(status int, ct, body string) string {
		return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			io.WriteString(w, body)
		})).URL
	}
	text := api.PublishRequest{Topic: "t", Data: api.Text("x")}
	tests := []struct {
		name    string
		url     string
		req     api.PublishRequest
		wantErr error
		want    string // in the error's text
	}{
		{name: "text_error", url: fake(502, "text/plain", "upstream\ndown\n"), req: text, wantErr: client.ErrBadStatus, want: "502 Bad Gateway: upstream down"},
		{name: "html_error_not_shown", url: fake(500, "text/html", "<h1>oops</h1>"), req: text, wantErr: client.ErrBadStatus, want: "500 Internal Server Error"},
		{name: "no_id", url: fake(201, "application/json", `{}`), req: text, wantErr: client.ErrNoEventID, want: `201 Created: "{}"`},
		{name: "not_json", url: fake(200, "text/plain", "ok"), req: text, wantErr: client.ErrNoEventID, want: `"ok"`},
		{name: "relative_url", url: "localhost:8080", req: text, wantErr: client.ErrInvalidURL},
		{name: "ftp_url", url: "ftp://h/events", req: text, wantErr: client.ErrInvalidURL},
		{name: "no_host", url: "http:///events", req: text, wantErr: client.ErrInvalidURL},
		{name: "data_not_json", url: closed, req: api.PublishRequest{Topic: "t", Data: json.RawMessage("{nope")}, want: "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, err := client.Publish(t.Context(), tt.url, tt.req, client.PublishOptions{})
			if err == nil || id != "" {
				t.Fatalf("Publish = %q, %v; want an error", id, err)
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("Publish = %v, want it to match %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Publish = %q, want it to contain %q", err, tt.want)
			}
		})
	}

	t.Run("connection_refused_hides_token", func(t *testing.T) {
		_, err := client.Publish(t.Context(), strings.Replace(closed, "http://", "http://u:s3cret@", 1)+"/?access_token=t0k", text, client.PublishOptions{})
		var ue *url.Error
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("Publish to a closed port = %v, want a *url.Error saying connection refused", err)
		}
		if strings.Contains(err.Error(), "s3cret") || strings.Contains(err.Error(), "t0k") {
			t.Errorf("Publish error %q shows a secret", err)
		}
	})
	t.Run("context_ended", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if _, err := client.Publish(ctx, fake(201, "application/json", `{"id":"1-1"}`), text, client.PublishOptions{}); !errors.Is(err, context.Canceled) {
			t.Errorf("Publish with an ended context = %v, want context.Canceled", err)
		}
	})
}

// TestPublishRequest checks the request Publish sends: POST to the
// endpoint, JSON, the caller's headers, and the body's exact shape.
func TestPublishRequest(t *testing.T) {
	type request struct {
		method, path, contentType, accept, auth, body string
	}
	requests := make(chan request, 1)
	base := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		requests <- request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Accept"), r.Header.Get("Authorization"), string(body)}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": "7-1"}`)
	})).URL
	header := http.Header{"Authorization": {"Bearer tok"}, "Content-Type": {"text/plain"}}
	id, err := client.Publish(t.Context(), base, api.PublishRequest{Topic: "a/b", Data: api.Text(""), Retry: 2000}, client.PublishOptions{Header: header})
	if id != "7-1" || err != nil {
		t.Fatalf("Publish = %q, %v; want 7-1", id, err)
	}
	got := <-requests
	want := request{"POST", "/events", "application/json", "application/json", "Bearer tok", `{"topic":"a/b","data":"","retry":2000}`}
	if got != want {
		t.Errorf("request %+v, want %+v", got, want)
	}
	if header.Get("Content-Type") != "text/plain" {
		t.Errorf("Publish changed the caller's header to %v", header)
	}
}

func TestEventsURL(t *testing.T) {
	tests := []struct {
		name    string
		hub     string
		topics  []string
		want    string
		wantErr error
	}{
		{name: "no_path", hub: "http://localhost:8080", want: "http://localhost:8080/events"},
		{name: "root_path", hub: "https://h/", want: "https://h/events"},
		{name: "path_kept", hub: "http://h/herald/events", want: "http://h/herald/events"},
		{name: "topics", hub: "http://h", topics: []string{"chat/*", "a b"}, want: "http://h/events?topic=chat%2F%2A&topic=a+b"},
		{name: "query_kept", hub: "http://h/?access_token=x", topics: []string{"t"}, want: "http://h/events?access_token=x&topic=t"},
		{name: "relative", hub: "/events", wantErr: client.ErrInvalidURL},
		{name: "host_and_port_only", hub: "localhost:8080", wantErr: client.ErrInvalidURL},
		{name: "bad_escape", hub: "http://h/%zz", wantErr: client.ErrInvalidURL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := client.EventsURL(tt.hub, tt.topics...)
			if got != tt.want || !errors.Is(err, tt.wantErr) {
				t.Errorf("EventsURL(%q, %q) = %q, %v; want %q, %v", tt.hub, tt.topics, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
