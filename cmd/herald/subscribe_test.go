package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/rawstream"
)

// runCmd runs herald with args in-process and returns its output.
func runCmd(ctx context.Context, args ...string) (stdout, stderr string, err error) {
	var out, errOut strings.Builder
	err = run(ctx, args, &out, &errOut)
	return out.String(), errOut.String(), err
}

// jsonLines decodes the lines of herald subscribe --json.
func jsonLines(t *testing.T, out string) []rawstream.Event {
	t.Helper()
	var events []rawstream.Event
	for line := range strings.Lines(out) {
		var ev rawstream.Event
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		events = append(events, ev)
	}
	return events
}

func serveHandler(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	return ts
}

// TestSubscribeOnceRawStreams runs "herald subscribe --json --once URL"
// against each tricky stream: it prints what a browser dispatches from
// the first response, and exits cleanly unless the connection broke.
func TestSubscribeOnceRawStreams(t *testing.T) {
	for _, tc := range rawstream.Cases() {
		t.Run(tc.Name, func(t *testing.T) {
			h := rawstream.NewHandler(tc)
			ts := serveHandler(t, h)
			stdout, stderr, err := runCmd(t.Context(), "subscribe", "--json", "--once", ts.URL)
			first := tc.Responses[0]
			switch {
			case first.Abort && err == nil:
				t.Errorf("subscribe exited cleanly after a broken connection")
			case first.Abort && errors.Is(err, errUsage):
				t.Errorf("subscribe = %v, want a failure, not a usage error", err)
			case !first.Abort && err != nil:
				t.Errorf("subscribe = %v, want nil\nstderr:\n%s", err, stderr)
			}
			if got := jsonLines(t, stdout); !slices.Equal(got, first.Want) {
				t.Errorf("subscribe printed\n%s\nwant %q", stdout, first.Want)
			}
			if n := len(h.Requests()); n != 1 {
				t.Errorf("%d requests, want 1 with --once", n)
			}
		})
	}
}

// TestSubscribeReconnectingRawStreams runs "herald subscribe --json URL"
// against the tricky streams served over several connections (each asks
// for a 20 ms retry): it prints every event and exits on the final 204.
func TestSubscribeReconnectingRawStreams(t *testing.T) {
	for _, tc := range rawstream.Cases() {
		if len(tc.Responses) < 2 {
			continue
		}
		t.Run(tc.Name, func(t *testing.T) {
			h := rawstream.NewHandler(tc)
			ts := serveHandler(t, h)
			stdout, stderr, err := runCmd(t.Context(), "subscribe", "--json", ts.URL)
			if err != nil {
				t.Fatalf("subscribe = %v, want nil\nstderr:\n%s", err, stderr)
			}
			if got, want := jsonLines(t, stdout), tc.Want(); !slices.Equal(got, want) {
				t.Errorf("subscribe printed\n%s\nwant %q", stdout, want)
			}
			for _, d := range h.Check() {
				t.Error(d)
			}
			if !strings.Contains(stderr, "reconnecting") {
				t.Errorf("stderr does not report the reconnections:\n%s", stderr)
			}
		})
	}
}

// TestSubscribeOutput checks both output formats byte for byte.
func TestSubscribeOutput(t *testing.T) {
	const body = "id: 1\nevent: note\ndata: <b>\"hi\" & é</b>\ndata: line 2\n\ndata: plain\n\nid\ndata: \\ \t\n\ndata\ndata:\ndata: x\n\n"
	ts := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, body)
	}))
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "json", args: []string{"--json"}, want: `{"id": "1", "type": "note", "data": "<b>\"hi\" & é</b>\nline 2"}` + "\n" +
			`{"id": "1", "type": "message", "data": "plain"}` + "\n" +
			`{"id": "", "type": "message", "data": "\\ \t"}` + "\n" +
			`{"id": "", "type": "message", "data": "\n\nx"}` + "\n"},
		{name: "readable", args: nil, want: "id: 1\nevent: note\ndata: <b>\"hi\" & é</b>\ndata: line 2\n\n" +
			"id: 1\nevent: message\ndata: plain\n\n" +
			"event: message\ndata: \\ \t\n\n" +
			"event: message\ndata:\ndata:\ndata: x\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"subscribe", "--once"}, tt.args...)
			stdout, stderr, err := runCmd(t.Context(), append(args, ts.URL)...)
			if err != nil {
				t.Fatalf("subscribe = %v\nstderr:\n%s", err, stderr)
			}
			if stdout != tt.want {
				t.Errorf("subscribe printed\n%q\nwant\n%q", stdout, tt.want)
			}
		})
	}
}

// TestSubscribeFlags checks --count, --last-event-id and --header, given
// before and after the URL.
func TestSubscribeFlags(t *testing.T) {
	var mu sync.Mutex
	var got []http.Header
	ts := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Header.Clone())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "retry: 1\ndata: a\n\ndata: b\n\n") // then it ends; the client reconnects
	}))
	stdout, stderr, err := runCmd(t.Context(), "subscribe", "--json", "--last-event-id", "41",
		"--header", "Authorization: Bearer secret", ts.URL, "--header", "X-Trace:  t1 ", "--count=3")
	if err != nil {
		t.Fatalf("subscribe = %v\nstderr:\n%s", err, stderr)
	}
	if n := strings.Count(stdout, "\n"); n != 3 {
		t.Errorf("printed %d events, want --count's 3:\n%s", n, stdout)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 2 {
		t.Fatalf("%d requests, want 2", len(got))
	}
	first := got[0]
	if first.Get("Last-Event-ID") != "41" || first.Get("Authorization") != "Bearer secret" || first.Get("X-Trace") != "t1" {
		t.Errorf("first request's headers: %v", first)
	}
	if got[1].Get("Last-Event-ID") != "41" || got[1].Get("Authorization") != "Bearer secret" {
		t.Errorf("second request's headers: %v", got[1])
	}
}

// TestSubscribeEnv checks that a flag's HERALD_ variable applies and the
// command line wins over it.
func TestSubscribeEnv(t *testing.T) {
	t.Setenv("HERALD_ONCE", "true")
	t.Setenv("HERALD_JSON", "true")
	t.Setenv("HERALD_HEADER", "X-From: env")
	t.Setenv("HERALD_COUNT", "many") // broken, but the flag wins
	headers := make(chan string, 1)
	ts := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers <- r.Header.Get("X-From")
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: a\n\ndata: b\n\n")
	}))
	stdout, stderr, err := runCmd(t.Context(), "subscribe", "--count", "5", ts.URL)
	if err != nil {
		t.Fatalf("subscribe = %v\nstderr:\n%s", err, stderr)
	}
	if header := <-headers; len(jsonLines(t, stdout)) != 2 || header != "env" {
		t.Errorf("printed %q with X-From %q; want 2 JSON lines (HERALD_ONCE, HERALD_JSON) and X-From: env", stdout, header)
	}
}

// TestSubscribeTopics subscribes with --topic to the hub that HERALD_URL
// names, with no URL argument: the topics become the stream's query, and
// only their events arrive.
func TestSubscribeTopics(t *testing.T) {
	url := startHub(t, hub.Options{})
	t.Setenv("HERALD_URL", url)
	var ids []string
	for _, topic := range []string{"chat/a", "other/z", "chat/b", "news/x/y"} {
		stdout, stderr, err := runCmd(t.Context(), "publish", "--topic", topic, "--data", topic)
		if err != nil {
			t.Fatalf("publish to %s = %v\nstderr:\n%s", topic, err, stderr)
		}
		ids = append(ids, strings.TrimSpace(stdout))
	}
	stdout, stderr, err := runCmd(t.Context(), "subscribe", "--json", "--count", "2", "--last-event-id", ids[0], "--topic", "chat/*", "--topic", "news/**")
	if err != nil {
		t.Fatalf("subscribe = %v\nstderr:\n%s", err, stderr)
	}
	want := []rawstream.Event{{ID: ids[2], Type: "message", Data: "chat/b"}, {ID: ids[3], Type: "message", Data: "news/x/y"}}
	if got := jsonLines(t, stdout); !slices.Equal(got, want) {
		t.Errorf("subscribe printed\n%s\nwant %q", stdout, want)
	}
}

// TestSubscribeRefusedPattern checks the exact message herald subscribe
// prints when the hub refuses a pattern: each thing once.
func TestSubscribeRefusedPattern(t *testing.T) {
	url := startHub(t, hub.Options{})
	_, _, err := runCmd(t.Context(), "subscribe", "--topic", "chat/**/x", url)
	want := "subscribe: " + url + `/events?topic=chat%2F%2A%2A%2Fx answered 400 Bad Request: hub: invalid pattern "chat/**/x": '**' before the last segment`
	if err == nil || err.Error() != want {
		t.Errorf("subscribe = %v\nwant        %s", err, want)
	}
}

// TestSubscribeFails checks that a source that fails ends the command
// with an error that names the cause, and no usage text.
func TestSubscribeFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/events"
	ln.Close()

	respond := func(status int, ct, body string) string {
		return serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			io.WriteString(w, body)
		})).URL
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "500", args: []string{respond(500, "application/json", `{"error": "store unavailable"}`)},
			want: "500 Internal Server Error: store unavailable"},
		{name: "400", args: []string{respond(400, "application/json", `{"error":"missing topic: give one or more ?topic= parameters"}`)},
			want: "400 Bad Request: missing topic"},
		{name: "wrong_content_type", args: []string{respond(200, "text/html", "<p>hi</p>")},
			want: `not text/event-stream: GET http://127.0.0.1:`},
		{name: "refused_once", args: []string{"--once", closed}, want: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t.Context(), append([]string{"subscribe"}, tt.args...)...)
			if err == nil || errors.Is(err, errUsage) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("subscribe = %v, want a failure containing %q", err, tt.want)
			}
			if stdout != "" || strings.Contains(stderr, "Usage:") {
				t.Errorf("stdout %q, stderr %q; want neither output nor usage", stdout, stderr)
			}
		})
	}
}

// TestSubscribeInterrupted checks that ending the context, as SIGINT
// does, ends the command cleanly even when the server sends nothing.
func TestSubscribeInterrupted(t *testing.T) {
	arrived := make(chan struct{})
	ts := serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(arrived)
		<-r.Context().Done()
	}))
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, _, err := runCmd(ctx, "subscribe", ts.URL)
		done <- err
	}()
	<-arrived
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("subscribe = %v after its context ended, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscribe still running 10s after its context ended")
	}
}

func TestSubscribeUsage(t *testing.T) {
	t.Setenv("HERALD_URL", "")
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"-h"}, wantStdout: "Usage: herald subscribe [flags] [URL]\n\nRead the Server-Sent Events stream at URL"},
		{name: "help_lists_topic", args: []string{"-h"}, wantStdout: "--topic pattern"},
		{name: "help_lists_flags", args: []string{"--help"}, wantStdout: "--last-event-id id"},
		{name: "help_after_url", args: []string{"http://localhost/", "-h"}, wantStdout: "--header 'Name: value'"},
		{name: "no_url", args: nil, wantErr: errUsage, wantStderr: "missing URL (or --topic, to read the hub at http://localhost:8080)"},
		{name: "no_url_but_flags", args: []string{"--json"}, wantErr: errUsage, wantStderr: "missing URL"},
		{name: "topic_with_relative_url", args: []string{"--topic", "t", "localhost:8080"}, wantErr: errUsage, wantStderr: "not an absolute http or https URL"},
		{name: "two_urls", args: []string{"http://a/", "http://b/"}, wantErr: errUsage, wantStderr: `unexpected argument "http://b/" after the URL`},
		{name: "relative_url", args: []string{"/events"}, wantErr: errUsage, wantStderr: "not an absolute http or https URL"},
		{name: "bad_header", args: []string{"--header", "no colon", "http://a/"}, wantErr: errUsage, wantStderr: `want 'Name: value', got "no colon"`},
		{name: "negative_count", args: []string{"--count", "-1", "http://a/"}, wantErr: errUsage, wantStderr: "--count (or HERALD_COUNT) must not be negative"},
		{name: "unknown_flag", args: []string{"http://a/", "--nope"}, wantErr: errUsage, wantStderr: "flag provided but not defined: -nope"},
		{name: "bad_last_event_id", args: []string{"--last-event-id", "a\nb", "http://a/"}, wantErr: errUsage, wantStderr: "CR, LF or NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, err := runCmd(t.Context(), append([]string{"subscribe"}, tt.args...)...)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("subscribe %q = %v, want %v", tt.args, err, tt.wantErr)
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

func TestSplitArgs(t *testing.T) {
	newFlags := func() *flag.FlagSet { return subscribeFlags(new(subscribeConfig)) }
	tests := []struct {
		args      []string
		wantFlags []string
		wantRest  []string
	}{
		{nil, nil, nil},
		{[]string{"u"}, nil, []string{"u"}},
		{[]string{"--json", "u"}, []string{"--json"}, []string{"u"}},
		{[]string{"u", "--json", "--count", "2"}, []string{"--json", "--count", "2"}, []string{"u"}},
		{[]string{"--header", "A: b", "u", "--header=C: d", "v"}, []string{"--header", "A: b", "--header=C: d"}, []string{"u", "v"}},
		{[]string{"--json", "--", "--u"}, []string{"--json"}, []string{"--u"}},
		{[]string{"--last-event-id", "--", "u"}, []string{"--last-event-id", "--"}, []string{"u"}},
		{[]string{"u", "--nope", "v"}, []string{"--nope", "v"}, []string{"u"}},
	}
	for _, tt := range tests {
		flags, rest := splitArgs(newFlags, tt.args)
		if !slices.Equal(flags, tt.wantFlags) || !slices.Equal(rest, tt.wantRest) {
			t.Errorf("splitArgs(%q) = %q, %q; want %q, %q", tt.args, flags, rest, tt.wantFlags, tt.wantRest)
		}
	}
}
