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

// startHub serves a new hub's API until the test ends.
func startHub(t *testing.T) string {
	t.Helper()
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
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
	url := startHub(t)
	var ids []string
	for _, p := range []struct {
		stdin string
		args  []string
	}{
		{args: []string{"publish", "--url", url, "--topic", "chat/lobby", "--data", "first"}},
		{args: []string{"publish", "--url", url + "/events", "--topic", "chat/lobby", "--type", "note", "--data", `<b>{"x": 1}</b>`}},
		{stdin: "from stdin\nline 2\n", args: []string{"publish", "--url", url, "--topic", "chat/lobby", "--data", "-", "--retry", "1500ms"}},
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

	stdout, stderr, err := runCmd(t.Context(), "subscribe", "--json", "--count", "2", "--last-event-id", ids[0], url+"/events?topic=chat/lobby")
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
// to reach it, ends the command with the reason and no output.
func TestPublishRefused(t *testing.T) {
	url := startHub(t)
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

	tests := []struct {
		name string
		args []string
		want []string // in the error's text
	}{
		{name: "wildcard_topic", args: []string{"--url", url, "--topic", "chat/*", "--data", "x"},
			want: []string{"publish to chat/*", url + "/events answered 400 Bad Request: ", "topic"}},
		{name: "reserved_type", args: []string{"--url", url, "--topic", "chat", "--type", "herald:gap", "--data", "x"},
			want: []string{"400 Bad Request: ", "herald:"}},
		{name: "not_json", args: []string{"--url", fake(502, "text/plain", "upstream\ndown\n"), "--topic", "t", "--data", "x"},
			want: []string{"502 Bad Gateway: upstream down"}},
		{name: "no_id", args: []string{"--url", fake(201, "application/json", `{}`), "--topic", "t", "--data", "x"},
			want: []string{"without an event ID"}},
		{name: "refused", args: []string{"--url", closed, "--topic", "t", "--data", "x"},
			want: []string{"publish to t: ", "connection refused"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t.Context(), append([]string{"publish"}, tt.args...)...)
			if err == nil || errors.Is(err, errUsage) {
				t.Fatalf("publish = %v, want a failure", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("publish = %q, want it to contain %q", err, w)
				}
			}
			if stdout != "" || stderr != "" {
				t.Errorf("stdout %q, stderr %q; want none (main prints the error)", stdout, stderr)
			}
		})
	}
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
	t.Setenv("HERALD_URL", url) // the flag's twin

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

func equalJSON(a, b map[string]any) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

func TestPublishUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"-h"}, wantStdout: "Publish one event to a herald hub"},
		{name: "help_names_env", args: []string{"-h"}, wantStdout: "env HERALD_TOPIC"},
		{name: "no_url", args: []string{"--topic", "t", "--data", "x"}, wantErr: errUsage, wantStderr: "missing --url"},
		{name: "no_topic", args: []string{"--url", "http://a", "--data", "x"}, wantErr: errUsage, wantStderr: "missing --topic"},
		{name: "no_data", args: []string{"--url", "http://a", "--topic", "t"}, wantErr: errUsage, wantStderr: "missing --data"},
		{name: "bad_url", args: []string{"--url", "localhost:8080", "--topic", "t", "--data", "x"}, wantErr: errUsage, wantStderr: "want an absolute http or https URL"},
		{name: "extra_argument", args: []string{"--url", "http://a", "--topic", "t", "--data", "x", "more"}, wantErr: errUsage, wantStderr: `unexpected argument "more"`},
		{name: "negative_retry", args: []string{"--url", "http://a", "--topic", "t", "--data", "x", "--retry", "-1s"}, wantErr: errUsage, wantStderr: "--retry (or HERALD_RETRY) must not be negative"},
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
