package testenv_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/heraldsse/herald/internal/testenv"
)

// fakeTB records Skipf and Fatalf instead of acting on the real test; like
// the real ones, both end the calling goroutine.
type fakeTB struct {
	testing.TB
	skipped, failed string
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// call runs need with a fakeTB in its own goroutine, so that Skipf and
// Fatalf can end it, and returns what need returned and the fake.
func call(t *testing.T, need func(testing.TB) string) (string, *fakeTB) {
	tb := &fakeTB{TB: t}
	var got string
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = need(tb)
	}()
	<-done
	return got, tb
}

// executable writes an empty executable file name in dir.
func executable(t *testing.T, dir, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNeedChromium(t *testing.T) {
	dir := t.TempDir()
	browser := executable(t, dir, "my-chromium")
	onPath := executable(t, dir, "chromium-browser")

	tests := []struct {
		name       string
		env        string // HERALD_TEST_CHROMIUM
		path       string // PATH
		ci         string
		want       string
		wantSkip   bool
		wantFail   bool
		wantReason string
	}{
		{name: "env_names_executable", env: browser, path: "", want: browser},
		{name: "found_on_path", env: "", path: dir, want: onPath},
		{name: "env_missing_skips", env: filepath.Join(dir, "nope"), path: dir, wantSkip: true, wantReason: "HERALD_TEST_CHROMIUM="},
		{name: "none_on_path_skips", env: "", path: t.TempDir(), wantSkip: true, wantReason: "none of chromium, chromium-browser, google-chrome on PATH"},
		{name: "none_on_path_fails_in_ci", env: "", path: t.TempDir(), ci: "true", wantFail: true, wantReason: "none of chromium"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_TEST_CHROMIUM", tt.env)
			t.Setenv("PATH", tt.path)
			t.Setenv("CI", tt.ci)
			got, tb := call(t, testenv.NeedChromium)
			checkOutcome(t, tb, "chromium", "HERALD_TEST_CHROMIUM", tt.wantSkip, tt.wantFail, tt.wantReason)
			if !tt.wantSkip && !tt.wantFail && got != tt.want {
				t.Errorf("NeedChromium = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestNeedPythonFlask(t *testing.T) {
	dir := t.TempDir()
	script := func(name, body string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Each fake Python checks that it was asked to import flask.
	withFlask := script("python-with-flask", `[ "$1 $2" = "-c import flask" ] || exit 3`)
	without := script("python-without-flask", `echo "ModuleNotFoundError: No module named 'flask'" >&2; exit 1`)

	tests := []struct {
		name       string
		env        string // HERALD_TEST_PYTHON
		ci         string
		want       string
		wantSkip   bool
		wantFail   bool
		wantReason string
	}{
		{name: "python_imports_flask", env: withFlask, want: withFlask},
		{name: "no_flask_skips", env: without, wantSkip: true, wantReason: "cannot import flask (apt-get install -y python3-flask): exit status 1: ModuleNotFoundError"},
		{name: "no_flask_fails_in_ci", env: without, ci: "true", wantFail: true, wantReason: "cannot import flask"},
		{name: "missing_python_skips", env: filepath.Join(dir, "nope"), wantSkip: true, wantReason: "nope"},
		{name: "missing_python_fails_in_ci", env: filepath.Join(dir, "nope"), ci: "true", wantFail: true, wantReason: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_TEST_PYTHON", tt.env)
			t.Setenv("CI", tt.ci)
			got, tb := call(t, testenv.NeedPythonFlask)
			checkOutcome(t, tb, "python3-flask", "HERALD_TEST_PYTHON", tt.wantSkip, tt.wantFail, tt.wantReason)
			if !tt.wantSkip && !tt.wantFail && got != tt.want {
				t.Errorf("NeedPythonFlask = %q, want %q", got, tt.want)
			}
		})
	}
}

// script writes an executable shell script name in dir that prints out.
func script(t *testing.T, dir, name, out string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte("#!/bin/sh\necho '"+out+"'\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestNeedNode(t *testing.T) {
	dir := t.TempDir()
	node20 := script(t, dir, "node", "v20.20.2")
	node18 := script(t, t.TempDir(), "node18", "v18.20.4")
	garbled := script(t, t.TempDir(), "nodeish", "hello")
	tests := []struct {
		name       string
		env        string // HERALD_TEST_NODE
		path       string // PATH
		ci         string
		want       string
		wantSkip   bool
		wantFail   bool
		wantReason string
	}{
		{name: "found_on_path", path: dir, want: node20},
		{name: "env_names_executable", env: node20, path: t.TempDir(), want: node20},
		{name: "too_old_skips", env: node18, path: dir, wantSkip: true, wantReason: `is Node "v18.20.4", want v20 or later`},
		{name: "too_old_fails_in_ci", env: node18, path: dir, ci: "true", wantFail: true, wantReason: "want v20 or later"},
		{name: "not_a_version_skips", env: garbled, path: dir, wantSkip: true, wantReason: `is Node "hello"`},
		{name: "none_on_path_skips", path: t.TempDir(), wantSkip: true, wantReason: "node"},
		{name: "env_missing_fails_in_ci", env: filepath.Join(dir, "nope"), path: dir, ci: "true", wantFail: true, wantReason: "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_TEST_NODE", tt.env)
			t.Setenv("PATH", tt.path)
			t.Setenv("CI", tt.ci)
			got, tb := call(t, testenv.NeedNode)
			checkOutcome(t, tb, "node", "HERALD_TEST_NODE", tt.wantSkip, tt.wantFail, tt.wantReason)
			if !tt.wantSkip && !tt.wantFail && got != tt.want {
				t.Errorf("NeedNode = %q, want %q", got, tt.want)
			}
		})
	}
}

// checkOutcome checks that tb was skipped, failed, or neither, with the
// message the package promises.
func checkOutcome(t *testing.T, tb *fakeTB, what, envVar string, wantSkip, wantFail bool, reason string) {
	t.Helper()
	suffix := "(set " + envVar + "; fails when CI=true)"
	check := func(kind, msg string, want bool) {
		switch {
		case want && msg == "":
			t.Errorf("not %s; want %s", kind, kind)
		case !want && msg != "":
			t.Errorf("%s with %q", kind, msg)
		case want && (!strings.HasPrefix(msg, what+" unavailable: ") || !strings.HasSuffix(msg, suffix) || !strings.Contains(msg, reason)):
			t.Errorf("%s with %q, want %q ... %q ... %q", kind, msg, what+" unavailable: ", reason, suffix)
		}
	}
	check("skipped", tb.skipped, wantSkip)
	check("failed", tb.failed, wantFail)
}

// fakeRedis serves one connection at a time on 127.0.0.1, answering each
// request with reply, until the test ends.
func fakeRedis(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			r := bufio.NewReader(conn)
			// A PING is *1, $4, PING: three lines.
			for range 3 {
				if _, err := r.ReadString('\n'); err != nil {
					break
				}
			}
			conn.Write([]byte(reply))
			conn.Close()
		}
	})
	return ln.Addr().String()
}

// closedAddr returns an address on which nothing listens.
func closedAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestNeedRedis(t *testing.T) {
	pong := fakeRedis(t, "+PONG\r\n")
	noauth := fakeRedis(t, "-NOAUTH Authentication required.\r\n")
	closed := closedAddr(t)

	tests := []struct {
		name       string
		addr       string
		ci         string
		wantSkip   bool
		wantFail   bool
		wantReason string
	}{
		{name: "pong", addr: pong},
		{name: "error_reply_skips", addr: noauth, wantSkip: true, wantReason: "NOAUTH"},
		{name: "nothing_listening_skips", addr: closed, wantSkip: true, wantReason: "connection refused"},
		{name: "nothing_listening_fails_in_ci", addr: closed, ci: "true", wantFail: true, wantReason: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_TEST_REDIS", tt.addr)
			t.Setenv("CI", tt.ci)
			got, tb := call(t, testenv.NeedRedis)
			checkOutcome(t, tb, "redis", "HERALD_TEST_REDIS", tt.wantSkip, tt.wantFail, tt.wantReason)
			if !tt.wantSkip && !tt.wantFail && got != tt.addr {
				t.Errorf("NeedRedis = %q, want %q", got, tt.addr)
			}
		})
	}
}
