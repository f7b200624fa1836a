package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldsse/herald/apps"
	"github.com/heraldsse/herald/sse"
)

func TestRunUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{name: "no_command", args: nil, wantErr: errUsage, wantStderr: "Usage:"},
		{name: "unknown_command", args: []string{"serv"}, wantErr: errUsage, wantStderr: `unknown command "serv"`},
		{name: "help", args: []string{"help"}, wantStdout: "herald <command> [flags]"},
		{name: "dash_h", args: []string{"-h"}, wantStdout: "serve "},
		{name: "serve_help", args: []string{"serve", "-h"}, wantStdout: "--addr address"},
		{name: "serve_unknown_flag", args: []string{"serve", "--nope"}, wantErr: errUsage, wantStderr: "flag provided but not defined: -nope"},
		{name: "serve_bad_duration", args: []string{"serve", "--stream-interval", "soon"}, wantErr: errUsage, wantStderr: `invalid value "soon"`},
		{name: "serve_extra_argument", args: []string{"serve", "now"}, wantErr: errUsage, wantStderr: `unexpected argument "now"`},
		{name: "serve_negative_interval", args: []string{"serve", "--stream-interval", "-1s"}, wantErr: errUsage, wantStderr: "--stream-interval (or HERALD_STREAM_INTERVAL) must not be negative, got -1s"},
		{name: "serve_negative_queue_size", args: []string{"serve", "--queue-size", "-1"}, wantErr: errUsage, wantStderr: "--queue-size (or HERALD_QUEUE_SIZE) must not be negative"},
		{name: "serve_negative_max_body", args: []string{"serve", "--max-body=-5"}, wantErr: errUsage, wantStderr: "--max-body (or HERALD_MAX_BODY) must not be negative"},
		{name: "serve_negative_history_age", args: []string{"serve", "--history-age", "-1h"}, wantErr: errUsage, wantStderr: "--history-age"},
		{name: "serve_history_negative_size", args: []string{"serve", "--history", "x=-1"}, wantErr: errUsage, wantStderr: `invalid value "x=-1" for flag -history: "x=-1": size "-1" must be a whole number, 0 or more`},
		{name: "serve_history_empty_pattern", args: []string{"serve", "--history", "=5"}, wantErr: errUsage, wantStderr: `for flag -history: "=5": invalid pattern "": empty`},
		{name: "serve_history_unparsable_age", args: []string{"serve", "--history", "a=5/soon"}, wantErr: errUsage, wantStderr: `for flag -history: "a=5/soon": age "soon" must be a positive duration`},
		{name: "serve_history_negative_age", args: []string{"serve", "--history", "a=5/-1m"}, wantErr: errUsage, wantStderr: `age "-1m" must be a positive duration`},
		{name: "serve_history_zero_age", args: []string{"serve", "--history", "a=5/0s"}, wantErr: errUsage, wantStderr: `age "0s" must be a positive duration`},
		{name: "serve_history_bad_pattern", args: []string{"serve", "--history", "a//b=5"}, wantErr: errUsage, wantStderr: `for flag -history: "a//b=5": invalid pattern "a//b": empty segment`},
		{name: "serve_history_double_star_inside", args: []string{"serve", "--history", "**/a=5"}, wantErr: errUsage, wantStderr: `invalid pattern "**/a": '**' before the last segment`},
		{name: "serve_history_pattern_twice", args: []string{"serve", "--history", "a/*=5", "--history", "a/*=6"}, wantErr: errUsage, wantStderr: `for flag -history: "a/*=6": pattern "a/*" is given twice`},
		{name: "serve_history_no_size", args: []string{"serve", "--history", "chat/**"}, wantErr: errUsage, wantStderr: `"chat/**": want PATTERN=SIZE[/AGE]`},
		{name: "serve_history_empty_size", args: []string{"serve", "--history", "chat/**="}, wantErr: errUsage, wantStderr: `size "" must be a whole number`},
		{name: "serve_history_size_not_a_number", args: []string{"serve", "--history", "chat/**=lots"}, wantErr: errUsage, wantStderr: `size "lots" must be a whole number`},
		{name: "serve_unknown_store", args: []string{"serve", "--store", "postgres://x"}, wantErr: errUsage, wantStderr: "--store"},
		{name: "serve_bolt_store_without_path", args: []string{"serve", "--store", "bolt:"}, wantErr: errUsage, wantStderr: "bolt:"},
		{name: "serve_zero_shutdown_timeout", args: []string{"serve", "--shutdown-timeout", "0s"}, wantErr: errUsage, wantStderr: "--shutdown-timeout (or HERALD_SHUTDOWN_TIMEOUT) must be positive"},
		{name: "serve_bad_log_level", args: []string{"serve", "--log-level", "loud"}, wantErr: errUsage, wantStderr: "--log-level"},
		{name: "help_lists_version", args: []string{"-h"}, wantStdout: "\tversion    print herald's version"},
		{name: "version", args: []string{"version"}, wantStdout: "herald "},
		{name: "dash_dash_version", args: []string{"--version"}, wantStdout: "herald "},
		{name: "version_extra_argument", args: []string{"version", "now"}, wantErr: errUsage, wantStderr: `unexpected argument "now"`},
		{name: "dash_dash_version_extra_argument", args: []string{"--version", "-h"}, wantErr: errUsage, wantStderr: `unexpected argument "-h"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("run(%q) = %v, want %v", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("run(%q) stdout:\n%s\nwant it to contain %q", tt.args, stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("run(%q) stderr:\n%s\nwant it to contain %q", tt.args, stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestServeHelpNamesEveryEnv checks that "serve -h" shows every flag with
// its environment variable.
func TestServeHelpNamesEveryEnv(t *testing.T) {
	var stdout strings.Builder
	if err := run(t.Context(), []string{"serve", "-h"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	var cfg serveConfig
	serveFlags(&cfg).VisitAll(func(f *flag.Flag) {
		if want := "--" + f.Name + " "; !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
		if want := "env " + envName(f.Name) + ")"; !strings.Contains(stdout.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	})
	for _, env := range []string{
		"HERALD_ADDR", "HERALD_STREAM_INTERVAL", "HERALD_TASK_STEP", "HERALD_TASK_CONCURRENCY",
		"HERALD_HISTORY_SIZE", "HERALD_HISTORY_AGE", "HERALD_QUEUE_SIZE", "HERALD_MAX_TOPICS",
		"HERALD_MAX_DATA", "HERALD_MAX_BODY", "HERALD_MAX_SUBSCRIBERS", "HERALD_MAX_SUBSCRIBERS_PER_CLIENT",
		"HERALD_HEARTBEAT", "HERALD_RETRY", "HERALD_WRITE_TIMEOUT", "HERALD_SHUTDOWN_TIMEOUT",
	} {
		if !strings.Contains(stdout.String(), env) {
			t.Errorf("help lacks %s", env)
		}
	}
}

// TestServeHelpGroups checks that "serve -h" lists every flag once, under
// a heading, and that the groups name only flags that exist.
func TestServeHelpGroups(t *testing.T) {
	var cfg serveConfig
	fs := serveFlags(&cfg)
	seen := make(map[string]string)
	for _, g := range serveGroups {
		for _, name := range g.names {
			if fs.Lookup(name) == nil {
				t.Errorf("group %q names --%s, which is no flag", g.title, name)
			}
			if other, ok := seen[name]; ok {
				t.Errorf("--%s is in groups %q and %q", name, other, g.title)
			}
			seen[name] = g.title
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if _, ok := seen[f.Name]; !ok {
			t.Errorf("--%s is in no group", f.Name)
		}
	})
	var stdout strings.Builder
	if err := run(t.Context(), []string{"serve", "-h"}, &stdout, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stdout.String(), "\nOther:") {
		t.Errorf("help has an Other heading:\n%s", stdout.String())
	}
	for _, g := range serveGroups {
		if !strings.Contains(stdout.String(), "\n"+g.title+":\n") {
			t.Errorf("help lacks the heading %q", g.title)
		}
	}
}

// TestServeFlagsFillOptions checks that each serve flag, or its variable,
// reaches the option it names.
func TestServeFlagsFillOptions(t *testing.T) {
	env := map[string]string{"HERALD_MAX_DATA": "1024", "HERALD_RETRY": "750ms"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	var cfg serveConfig
	fs := serveFlags(&cfg)
	err := fs.Parse([]string{
		"--history-size", "50", "--history-age", "2m", "--queue-size", "7", "--max-topics", "3",
		"--max-body", "2048", "--max-subscribers", "9", "--max-subscribers-per-client", "2",
		"--heartbeat", "5s", "--write-timeout", "4s", "--task-concurrency", "6", "--shutdown-timeout", "3s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"history-size", cfg.history.size, 50},
		{"history-age", cfg.history.age, 2 * time.Minute},
		{"queue-size", cfg.hub.QueueSize, 7},
		{"max-topics", cfg.hub.MaxTopics, 3},
		{"max-data", cfg.hub.MaxDataSize, 1024},
		{"max-body", cfg.server.MaxBodyBytes, int64(2048)},
		{"max-subscribers", cfg.server.MaxSubscribers, 9},
		{"max-subscribers-per-client", cfg.server.MaxSubscribersPerClient, 2},
		{"heartbeat", cfg.server.Heartbeat, 5 * time.Second},
		{"retry", cfg.hub.Retry, 750 * time.Millisecond},
		{"write-timeout", cfg.server.WriteTimeout, 4 * time.Second},
		{"task-concurrency", cfg.apps.TaskConcurrency, 6},
		{"shutdown-timeout", cfg.shutdownTimeout, 3 * time.Second},
	} {
		if c.got != c.want {
			t.Errorf("--%s set %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestApplyEnv(t *testing.T) {
	env := map[string]string{
		"HERALD_ADDR":            "127.0.0.1:9999",
		"HERALD_STREAM_INTERVAL": "250ms",
		"HERALD_TASK_STEP":       "2s",
	}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }

	var cfg serveConfig
	fs := serveFlags(&cfg)
	if err := fs.Parse([]string{"--task-step", "3s"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, lookup); err != nil {
		t.Fatal(err)
	}
	if cfg.addr != "127.0.0.1:9999" {
		t.Errorf("addr = %q, want HERALD_ADDR's 127.0.0.1:9999", cfg.addr)
	}
	if cfg.apps.StreamInterval != 250*time.Millisecond {
		t.Errorf("stream interval = %v, want HERALD_STREAM_INTERVAL's 250ms", cfg.apps.StreamInterval)
	}
	if cfg.apps.TaskStep != 3*time.Second {
		t.Errorf("task step = %v, want the flag's 3s over HERALD_TASK_STEP", cfg.apps.TaskStep)
	}
	if cfg.apps.IDInterval != apps.DefaultIDInterval {
		t.Errorf("id interval = %v, want the default %v", cfg.apps.IDInterval, apps.DefaultIDInterval)
	}

	env["HERALD_MAX_TASKS"] = "many"
	fs = serveFlags(&cfg)
	err := applyEnv(fs, lookup)
	if err == nil || !strings.Contains(err.Error(), `HERALD_MAX_TASKS="many"`) {
		t.Errorf("applyEnv with HERALD_MAX_TASKS=many: %v, want an error naming it", err)
	}
}

// logWriter collects a server's log and reports the URL it serves on,
// from its "herald serving" line. It is safe for concurrent use.
type logWriter struct {
	mu   sync.Mutex
	log  strings.Builder
	url  chan string
	seen bool
}

func newLogWriter() *logWriter { return &logWriter{url: make(chan string, 1)} }

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.log.Write(p)
	for line := range strings.Lines(string(p)) {
		if _, url, ok := strings.Cut(line, " url="); ok && !w.seen && strings.Contains(line, `msg="herald serving"`) {
			w.seen = true
			w.url <- strings.Fields(url)[0]
		}
	}
	return len(p), nil
}

func (w *logWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.log.String()
}

// waitURL returns the URL the server logged, or fails the test if the
// server exits first (exited is closed) or nothing comes within the timeout.
func (w *logWriter) waitURL(t *testing.T, exited <-chan struct{}) string {
	t.Helper()
	select {
	case url := <-w.url:
		return url
	case <-exited:
		t.Fatalf("server exited early\nlog:\n%s", w)
	case <-time.After(20 * time.Second):
		t.Fatalf("server logged no URL\nlog:\n%s", w)
	}
	return ""
}

// checkServes reads three events of url's /stream, runs a task to
// completion, and returns the /stream decoder, still open.
func checkServes(ctx context.Context, t *testing.T, url string) *sse.Decoder {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+"/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /stream: status %d", resp.StatusCode)
	}
	dec := sse.NewDecoder(resp.Body)
	for want := 1; want <= 3; want++ {
		ev, err := dec.Next()
		if err != nil {
			t.Fatalf("GET /stream: event %d: %v", want, err)
		}
		var data struct{ Count int }
		if err := json.Unmarshal([]byte(ev.Data), &data); err != nil || data.Count != want {
			t.Fatalf("GET /stream: event %d is %q", want, ev.Data)
		}
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, url+"/start-task", nil)
	tresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var task struct {
		TaskID string `json:"task_id"`
	}
	err = json.NewDecoder(tresp.Body).Decode(&task)
	tresp.Body.Close()
	if err != nil {
		t.Fatalf("POST /start-task: %v", err)
	}
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, url+"/task-progress/"+task.TaskID, nil)
	presp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer presp.Body.Close()
	pdec := sse.NewDecoder(presp.Body)
	var last sse.Event
	for {
		ev, err := pdec.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("GET /task-progress: %v", err)
		}
		last = ev
	}
	if want := `{"status": "completed", "progress": 100}`; last.Data != want {
		t.Errorf("task ended with %q, want %q", last.Data, want)
	}
	return dec
}

// checkEnded checks that an open stream ended cleanly with the server.
func checkEnded(t *testing.T, dec *sse.Decoder) {
	t.Helper()
	for {
		_, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("open stream after shutdown: %v, want io.EOF", err)
		}
	}
}

// postEvent publishes body (JSON) through POST /events at base and returns
// the event's ID.
func postEvent(ctx context.Context, t *testing.T, base, body string) string {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST /events: %v", err)
	}
	defer resp.Body.Close()
	var answer struct {
		ID string `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&answer); resp.StatusCode != http.StatusCreated || err != nil || answer.ID == "" {
		t.Fatalf("POST /events %s: status %d, id %q (%v), want 201 with an id", body, resp.StatusCode, answer.ID, err)
	}
	return answer.ID
}

// openEvents opens GET target (a path and query) at base with the given
// Last-Event-ID, checks that it is an event stream, and returns its body,
// closed when the test ends.
func openEvents(ctx context.Context, t *testing.T, base, target, lastID string) io.ReadCloser {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+target, nil)
	if lastID != "" {
		req.Header.Set("Last-Event-ID", lastID)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", target, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("GET %s: %d %q %s, want 200 text/event-stream", target, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	return resp.Body
}

// checkAPI checks that url serves the hub's API: health, publishing, and a
// subscription that resumes after an ID, by header or by query parameter.
func checkAPI(ctx context.Context, t *testing.T, url string) {
	t.Helper()
	for _, path := range []string{"/healthz", "/readyz"} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("GET %s: %d %q, want 200 JSON", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}

	first := postEvent(ctx, t, url, `{"topic": "chat/lobby", "data": {"text": "hi"}}`)
	second := postEvent(ctx, t, url, `{"topic": "chat/lobby", "type": "note", "data": "again"}`)
	for _, tt := range []struct{ name, target, header string }{
		{"header", "/events?topic=chat/*", first},
		{"query", "/events?topic=chat/*&lastEventId=" + first, ""},
	} {
		sctx, cancel := context.WithCancel(ctx)
		dec := sse.NewDecoder(openEvents(sctx, t, url, tt.target, tt.header))
		ev, err := dec.Next()
		cancel()
		if err != nil {
			t.Fatalf("GET /events resumed by %s: %v", tt.name, err)
		}
		if want := (sse.Event{ID: second, Type: "note", Data: "again"}); ev != want {
			t.Errorf("GET /events resumed by %s after %s: %+v, want %+v", tt.name, first, ev, want)
		}
		if retry, ok := dec.Retry(); !ok || retry != 3*time.Second {
			t.Errorf("GET /events: retry %v, %v; want the default 3s", retry, ok)
		}
	}
}

// TestServe runs "herald serve" in-process, reads the apps' streams and
// uses the hub's API over HTTP, and stops it by cancelling its context as a
// signal would.
func TestServe(t *testing.T) {
	// The address comes from the environment, the stream interval from a
	// flag that wins over a broken variable.
	t.Setenv("HERALD_ADDR", "127.0.0.1:0")
	t.Setenv("HERALD_STREAM_INTERVAL", "broken")
	t.Setenv("HERALD_TASK_STEP", "2ms")

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	logs := newLogWriter()
	var runErr error
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		runErr = run(ctx, []string{"serve", "--stream-interval", "10ms"}, io.Discard, logs)
	}()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	url := logs.waitURL(t, exited)
	if !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("serving on %s, want HERALD_ADDR's 127.0.0.1", url)
	}
	rctx, rcancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer rcancel()
	dec := checkServes(rctx, t, url)
	checkAPI(rctx, t, url)

	cancel()
	select {
	case <-exited:
		if runErr != nil {
			t.Fatalf("run = %v, want nil after a clean shutdown\nlog:\n%s", runErr, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("run has not returned after its context ended\nlog:\n%s", logs)
	}
	checkEnded(t, dec)
	if !strings.Contains(logs.String(), `msg="herald stopped"`) {
		t.Errorf("log lacks herald stopped:\n%s", logs)
	}
}

// TestBinaryStopsOnSIGTERM builds herald, starts it as a user would, and
// stops it with SIGTERM while a tutorial stream and a hub stream are open,
// with an event published and not yet read: the hub stream gets the event,
// then a jittered retry hint, then its end; the process exits 0 within its
// shutdown deadline and accepts no connection after.
func TestBinaryStopsOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool on PATH: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "herald")
	build := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	const (
		retry    = 500 * time.Millisecond
		deadline = 5 * time.Second
	)
	logs := newLogWriter()
	cmd := exec.CommandContext(t.Context(), bin, "serve", "--addr", "127.0.0.1:0",
		"--stream-interval", "10ms", "--task-step", "2ms",
		"--retry", retry.String(), "--shutdown-timeout", deadline.String())
	cmd.Env = append(os.Environ(), "HERALD_LOG_LEVEL=debug")
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var waitErr error
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		waitErr = cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	url := logs.waitURL(t, exited)
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	dec := checkServes(ctx, t, url)

	// A hub stream, subscribed (its opening retry hint is written after
	// the subscription is made), with one event published to it.
	stream := bufio.NewReader(openEvents(ctx, t, url, "/events?topic=a", ""))
	for _, want := range []string{fmt.Sprintf("retry: %d\n", retry.Milliseconds()), "\n"} {
		if line, err := stream.ReadString('\n'); line != want || err != nil {
			t.Fatalf("hub stream opened with %q (%v), want %q", line, err, want)
		}
	}
	id := postEvent(ctx, t, url, `{"topic": "a", "data": "last words"}`)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()

	// Everything the hub stream sends until its end, heartbeats aside.
	var lines []string
	for {
		line, err := stream.ReadString('\n')
		if line = strings.TrimSuffix(line, "\n"); line != "" && !strings.HasPrefix(line, ":") {
			lines = append(lines, line)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("hub stream after SIGTERM: %v, having read %q", err, lines)
		}
	}
	if len(lines) != 3 || lines[0] != "id: "+id || lines[1] != "data: last words" || !strings.HasPrefix(lines[2], "retry: ") {
		t.Fatalf("hub stream sent %q after SIGTERM, want the event %s, a retry hint, then its end", lines, id)
	}
	ms, err := strconv.Atoi(strings.TrimPrefix(lines[2], "retry: "))
	if got := time.Duration(ms) * time.Millisecond; err != nil || got < retry || got > 2*retry {
		t.Errorf("retry hint %q, want between %v and %v", lines[2], retry, 2*retry)
	}

	select {
	case <-exited:
		if waitErr != nil {
			t.Fatalf("herald exited with %v after SIGTERM, want status 0\nlog:\n%s", waitErr, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("herald still running 20s after SIGTERM\nlog:\n%s", logs)
	}
	if took := time.Since(signalled); took > deadline {
		t.Errorf("herald took %v to exit after SIGTERM, past its %v deadline", took, deadline)
	}
	checkEnded(t, dec)

	addr := strings.TrimPrefix(url, "http://")
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Errorf("connected to %s after herald exited", addr)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s after herald exited: %v, want connection refused", addr, err)
	}
}
