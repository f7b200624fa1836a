package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/rawstream"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

// startHub serves the API of a new hub with opts until the test ends.
func startHub(t *testing.T, opts hub.Options) string {
	t.Helper()
	log := memory.New(memory.Options{})
	opts.Log = log
	h, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Hub: h})
	if err != nil {
		t.Fatal(err)
	}
	ts := serveHandler(t, srv)
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

// publishCmd runs herald publish in-process with stdin.
func publishCmd(ctx context.Context, stdin string, args ...string) (stdout, stderr string, err error) {
	var out, errOut strings.Builder
	err = publish(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), err
}

// TestPublishThenSubscribe publishes three events with herald publish
// to a real hub, then reads the last two with herald subscribe, resuming
// after the first one's ID.
func TestPublishThenSubscribe(t *testing.T) {
	url := startHub(t, hub.Options{})
	var ids []string
	for _, p := range []struct {
		stdin string
		args  []string
	}{
		{args: []string{"publish", "--topic", "chat/lobby", "--data", "first", url}},
		{args: []string{"publish", "--topic", "chat/lobby", "--type", "note", "--data", `<b>{"x": 1}</b>`, url + "/events"}},
		{stdin: "from stdin\nline 2\n", args: []string{"publish", url, "--topic", "chat/lobby", "--data", "-", "--retry", "1500ms"}},
	} {
		var stdout, stderr string
		var err error
		if p.stdin != "" {
			stdout, stderr, err = publishCmd(t.Context(), p.stdin, p.args[1:]...)
		} else {
			stdout, stderr, err = runCmd(t.Context(), p.args...)
		}
		if err != nil {
			t.Fatalf("%q = %v\nstderr:\n%s", p.args, err, stderr)
		}
		id, ok := strings.CutSuffix(stdout, "\n")
		if !ok || id == "" || strings.Contains(id, "\n") {
			t.Fatalf("%q printed %q, want one ID and a newline", p.args, stdout)
		}
		ids = append(ids, id)
	}

	stdout, stderr, err := runCmd(t.Context(), "subscribe", "--json", "--count", "2", "--last-event-id", ids[0], "--topic", "chat/lobby", url)
	if err != nil {
		t.Fatalf("subscribe = %v\nstderr:\n%s", err, stderr)
	}
	want := []rawstream.Event{
		{ID: ids[1], Type: "note", Data: `<b>{"x": 1}</b>`},
		{ID: ids[2], Type: "message", Data: "from stdin\nline 2"},
	}
	if got := jsonLines(t, stdout); !slices.Equal(got, want) {
		t.Errorf("subscribe printed\n%s\nwant %q", stdout, want)
	}
}

// TestPublishRefused checks that an event the hub refuses, or a failure
// to reach it, ends the command with the reason, said once, and no
// output. Bad inputs tried: a wildcard topic, a reserved type, data over
// the hub's limit, answers that are not herald's, a closed port.
func TestPublishRefused(t *testing.T) {
	url := startHub(t, hub.Options{MaxDataSize: 8})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	fake := func(status int, ct, body string) string {
		return serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			io.WriteString(w, body)
		})).URL
	}
	notJSON, noID := fake(502, "text/plain", "upstream\ndown\n"), fake(201, "application/json", `{}`)

	tests := []struct {
		name string
		args []string
		want string // the whole message main prints after "herald: "
	}{
		{name: "wildcard_topic", args: []string{"--topic", "chat/*", "--data", "x", url},
			want: "publish: " + url + `/events answered 400 Bad Request: hub: invalid topic "chat/*": '*' is a wildcard, for subscribing only`},
		{name: "reserved_type", args: []string{"--topic", "chat", "--type", "herald:gap", "--data", "x", url},
			want: "publish: " + url + `/events answered 400 Bad Request: hub: invalid message: type "herald:gap" is reserved (types starting with "herald:" belong to the hub)`},
		{name: "data_too_large", args: []string{"--topic", "chat", "--data", "123456789", url},
			want: "publish: " + url + "/events answered 413 Request Entity Too Large: hub: data too large: 9 bytes, limit 8"},
		{name: "not_json", args: []string{"--topic", "t", "--data", "x", notJSON},
			want: "publish: " + notJSON + "/events answered 502 Bad Gateway: upstream down"},
		{name: "no_id", args: []string{"--topic", "t", "--data", "x", noID},
			want: "publish: client: the answer has no event ID: POST " + noID + `/events answered 201 Created: "{}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t.Context(), append([]string{"publish"}, tt.args...)...)
			if err == nil || errors.Is(err, errUsage) {
				t.Fatalf("publish = %v, want a failure", err)
			}
			if err.Error() != tt.want {
				t.Errorf("publish = %q\nwant      %q", err, tt.want)
			}
			if stdout != "" || stderr != "" {
				t.Errorf("stdout %q, stderr %q; want none (main prints the error)", stdout, stderr)
			}
		})
	}
	t.Run("connection_refused", func(t *testing.T) {
		_, _, err := runCmd(t.Context(), "publish", "--topic", "t", "--data", "x", closed)
		if err == nil || !strings.HasPrefix(err.Error(), "publish: ") || !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("publish to a closed port = %v, want it to say the connection was refused", err)
		}
	})
}

// TestPublishRequest checks the request herald publish sends.
func TestPublishRequest(t *testing.T) {
	type request struct {
		path, contentType, auth string
		body                    map[string]any
	}
	requests := make(chan request, 1)
	url := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		err := json.NewDecoder(r.Body).Decode(&body)
		if err != nil {
			t.Errorf("request body: %v", err)
		}
		requests <- request{r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Authorization"), body}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": "7-1"}`)
	})).URL
	t.Setenv("HERALD_URL", url) // the URL argument's default

	stdout, stderr, err := publishCmd(t.Context(), "", "--topic", "a/b", "--data", "", "--retry", "2s", "--header", "Authorization: Bearer tok")
	if err != nil {
		t.Fatalf("publish = %v\nstderr:\n%s", err, stderr)
	}
	if stdout != "7-1\n" {
		t.Errorf("publish printed %q, want the ID", stdout)
	}
	got := <-requests
	want := map[string]any{"topic": "a/b", "data": "", "retry": float64(2000)}
	if got.path != "/events" || got.contentType != "application/json" || got.auth != "Bearer tok" || !equalJSON(got.body, want) {
		t.Errorf("request %+v, want POST /events, application/json, the Authorization header and %v", got, want)
	}
}

// TestPublishDefaultURL checks that with no URL argument and no
// HERALD_URL, herald publish posts to http://localhost:8080/events (the
// request is given no time, so it never leaves the machine).
func TestPublishDefaultURL(t *testing.T) {
	t.Setenv("HERALD_URL", "")
	_, _, err := runCmd(t.Context(), "publish", "--topic", "t", "--data", "x", "--timeout", "1ns")
	if err == nil || !strings.Contains(err.Error(), `"http://localhost:8080/events"`) || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Errorf("publish with no URL = %v, want a timeout posting to http://localhost:8080/events", err)
	}
}

func equalJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestPublishUsage(t *testing.T) {
	t.Setenv("HERALD_URL", "")
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"-h"}, wantStdout: "Usage: herald publish [flags] [URL]\n\nPublish one event to the herald hub at URL"},
		{name: "help_names_env", args: []string{"-h"}, wantStdout: "env HERALD_TOPIC"},
		{name: "help_after_url", args: []string{"http://a", "-h"}, wantStdout: "HERALD_URL"},
		{name: "no_topic", args: []string{"--data", "x", "http://a"}, wantErr: errUsage, wantStderr: "missing --topic"},
		{name: "no_data", args: []string{"--topic", "t", "http://a"}, wantErr: errUsage, wantStderr: "missing --data"},
		{name: "bad_url", args: []string{"--topic", "t", "--data", "x", "localhost:8080"}, wantErr: errUsage, wantStderr: "not an absolute http or https URL"},
		{name: "url_flag_is_gone", args: []string{"--url", "http://a", "--topic", "t", "--data", "x"}, wantErr: errUsage, wantStderr: "flag provided but not defined: -url"},
		{name: "two_urls", args: []string{"--topic", "t", "--data", "x", "http://a", "http://b"}, wantErr: errUsage, wantStderr: `unexpected argument "http://b" after the URL`},
		{name: "negative_retry", args: []string{"--topic", "t", "--data", "x", "--retry", "-1s", "http://a"}, wantErr: errUsage, wantStderr: "--retry (or HERALD_RETRY) must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t.Context(), append([]string{"publish"}, tt.args...)...)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("publish %q = %v, want %v", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(stdout, tt.wantStdout) {
				t.Errorf("stdout:\n%s\nwant it to contain %q", stdout, tt.wantStdout)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr:\n%s\nwant it to contain %q", stderr, tt.wantStderr)
			}
		})
	}
}
