package deploy_test

import (
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// unit is a systemd unit file: each section's settings in order, a key
// repeated as often as the file sets it.
type unit map[string][][2]string

// readUnit parses a unit file: [Section] headers, Key=Value lines, # and ;
// comments. It refuses anything else, including continuation lines, which
// the kit's unit does not use.
func readUnit(t *testing.T, path string) unit {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	u := make(unit)
	section := ""
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: %q is no Key=Value line of a section", path, n+1, line)
			}
			u[section] = append(u[section], [2]string{strings.TrimSpace(k), strings.TrimSpace(v)})
		}
	}
	return u
}

// values returns every value key has in section, in order.
func (u unit) values(section, key string) []string {
	var vs []string
	for _, kv := range u[section] {
		if kv[0] == key {
			vs = append(vs, kv[1])
		}
	}
	return vs
}

// envFileLine is a NAME=value line of an environment file; commented out
// (#NAME=value) it still names a variable an operator may set.
var envFileLine = regexp.MustCompile(`^(#?)([A-Z][A-Z0-9_]*)=(.*)$`)

// readEnvFile parses an EnvironmentFile: NAME=value lines, comments, blank
// lines. It returns the variables set, and the names of those commented
// out. Quotes, export and spaces around = are refused: systemd reads them
// differently from a shell, so the example keeps to the plain form.
func readEnvFile(t *testing.T, path string) (set map[string]string, commented []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	set = make(map[string]string)
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if m := envFileLine.FindStringSubmatch(line); m != nil {
			if strings.ContainsAny(m[3], `"'`) {
				t.Errorf("%s:%d: %q: no quotes, please", path, n+1, line)
			}
			if m[1] == "#" {
				commented = append(commented, m[2])
			} else {
				set[m[2]] = m[3]
			}
			continue
		}
		if line != "" && line[0] != '#' {
			t.Errorf("%s:%d: %q is no NAME=value line", path, n+1, line)
		}
	}
	return set, commented
}

// effectiveEnv is what herald.service gives herald: its Environment= lines,
// overridden by the example EnvironmentFile, as systemd does.
func effectiveEnv(t *testing.T, u unit, file map[string]string) map[string]string {
	t.Helper()
	env := make(map[string]string)
	for _, e := range u.values("Service", "Environment") {
		k, v, ok := strings.Cut(e, "=")
		if !ok {
			t.Fatalf("Environment=%s is not NAME=value", e)
		}
		env[k] = v
	}
	maps.Copy(env, file)
	return env
}

// TestSystemdUnit checks the hardened unit: the settings that confine
// herald, the stop timeout against herald's shutdown timeout, descriptors
// against the stream limit, the bolt store inside the state directory, no
// settings on the command line, and every HERALD_* variable of the unit
// and the example environment file a flag of herald serve. With the
// binary built, systemd-analyze verifies the unit and herald serves with
// the unit's environment, then stops on SIGTERM within the unit's timeout.
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t, unitFile)
	fileEnv, commented := readEnvFile(t, envFile)
	env := effectiveEnv(t, u, fileEnv)

	t.Run("confinement", func(t *testing.T) {
		for _, want := range [][2]string{
			{"DynamicUser", "yes"}, {"NoNewPrivileges", "yes"}, {"ProtectSystem", "strict"}, {"ProtectHome", "yes"},
			{"PrivateTmp", "yes"}, {"PrivateDevices", "yes"}, {"RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"},
			{"CapabilityBoundingSet", ""}, {"AmbientCapabilities", ""}, {"StateDirectory", "herald"},
			{"Restart", "on-failure"}, {"SystemCallFilter", "@system-service"}, {"SystemCallErrorNumber", "EPERM"},
			{"KillSignal", "SIGTERM"}, {"EnvironmentFile", "-/etc/herald/herald.env"},
		} {
			if got := u.values("Service", want[0]); !slices.Contains(got, want[1]) {
				t.Errorf("%s=%v, want %q among them", want[0], got, want[1])
			}
		}
		if got := u.values("Service", "ExecStart"); !slices.Equal(got, []string{"/usr/local/bin/herald serve"}) {
			t.Errorf("ExecStart=%v: want the bare command; settings belong in the environment, secrets off the command line", got)
		}
		if got := u.values("Install", "WantedBy"); !slices.Equal(got, []string{"multi-user.target"}) {
			t.Errorf("WantedBy=%v", got)
		}
	})

	t.Run("stop timeout exceeds herald's shutdown timeout", func(t *testing.T) {
		stop := unitDuration(t, u, "TimeoutStopSec")
		for _, src := range []struct {
			name string
			env  map[string]string
		}{{unitFile, effectiveEnv(t, u, nil)}, {unitFile + " with " + envFile, env}} {
			shutdown, err := time.ParseDuration(src.env["HERALD_SHUTDOWN_TIMEOUT"])
			if err != nil {
				t.Fatalf("%s: HERALD_SHUTDOWN_TIMEOUT: %v", src.name, err)
			}
			if stop < shutdown+10*time.Second {
				t.Errorf("%s: TimeoutStopSec=%v is not 10 s above HERALD_SHUTDOWN_TIMEOUT=%v: systemd would kill streams before herald sends their retry hints", src.name, stop, shutdown)
			}
		}
	})

	t.Run("descriptors exceed the stream limit", func(t *testing.T) {
		nofile, err := strconv.Atoi(strings.Join(u.values("Service", "LimitNOFILE"), ""))
		if err != nil {
			t.Fatalf("LimitNOFILE: %v", err)
		}
		maxSubs, err := strconv.Atoi(env["HERALD_MAX_SUBSCRIBERS"])
		if err != nil {
			t.Fatalf("HERALD_MAX_SUBSCRIBERS: %v", err)
		}
		// docs/production.md: keep --max-subscribers a tenth below the limit.
		if maxSubs > nofile*9/10 {
			t.Errorf("HERALD_MAX_SUBSCRIBERS=%d leaves too few of LimitNOFILE=%d for the listener, the store and keep-alives", maxSubs, nofile)
		}
	})

	t.Run("the bolt store is in the state directory", func(t *testing.T) {
		dir := "/var/lib/" + strings.Join(u.values("Service", "StateDirectory"), "") + "/"
		path, ok := strings.CutPrefix(env["HERALD_STORE"], "bolt:")
		if !ok || !strings.HasPrefix(path, dir) {
			t.Errorf("HERALD_STORE=%q: want bolt:%s..., the only place ProtectSystem=strict lets herald write", env["HERALD_STORE"], dir)
		}
	})

	if testing.Short() {
		t.Skip("builds herald; skipped with -short")
	}
	bin := buildHerald(t)

	t.Run("every HERALD_ variable is a flag of herald serve", func(t *testing.T) {
		out, err := exec.CommandContext(t.Context(), bin, "serve", "-h").CombinedOutput()
		if err != nil {
			t.Fatalf("herald serve -h: %v\n%s", err, out)
		}
		known := make(map[string]bool)
		for _, m := range regexp.MustCompile(`env (HERALD_[A-Z0-9_]+)`).FindAllStringSubmatch(string(out), -1) {
			known[m[1]] = true
		}
		if len(known) < 10 {
			t.Fatalf("herald serve -h names %d variables: the help changed form\n%s", len(known), out)
		}
		names := append(slices.Collect(maps.Keys(env)), commented...)
		for _, name := range names {
			if !known[name] {
				t.Errorf("%s is no variable of herald serve, which would ignore it", name)
			}
		}
	})

	t.Run("systemd-analyze verify", func(t *testing.T) {
		analyze := need(t, "systemd-analyze")
		// The unit as installed, but with the binary just built: verify
		// checks that ExecStart's program exists.
		b, err := os.ReadFile(unitFile)
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(t.TempDir(), "herald.service")
		text := strings.Replace(string(b), "ExecStart=/usr/local/bin/herald", "ExecStart="+bin, 1)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.CommandContext(t.Context(), analyze, "verify", path).CombinedOutput()
		if err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify: %v\n%s", err, out)
		}
	})

	t.Run("herald serves with the unit's environment and stops in time", func(t *testing.T) {
		serveWithUnitEnv(t, bin, env, unitDuration(t, u, "TimeoutStopSec"))
	})
}

// unitDuration reads a time setting of the unit's [Service] written as a Go
// duration ("20s"), which is how the kit's unit writes them.
func unitDuration(t *testing.T, u unit, key string) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(strings.Join(u.values("Service", key), ""))
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return d
}

// buildHerald builds cmd/herald into a temporary directory.
func buildHerald(t *testing.T) string {
	t.Helper()
	goTool := need(t, "go")
	bin := filepath.Join(t.TempDir(), "herald")
	out, err := exec.CommandContext(t.Context(), goTool, "build", "-o", bin, "github.com/heraldsse/herald/cmd/herald").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// serveWithUnitEnv runs bin serve with env, as systemd would give it, except
// for a loopback address on a free port and a bolt file in a temporary
// directory; checks it becomes ready and serves what the dashboard and the
// rules query; then sends SIGTERM and expects a clean exit within stop.
func serveWithUnitEnv(t *testing.T, bin string, env map[string]string, stop time.Duration) {
	cmd := exec.Command(bin, "serve")
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HERALD_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	for k, v := range env {
		switch k {
		case "HERALD_ADDR":
			v = "127.0.0.1:0"
		case "HERALD_STORE":
			v = "bolt:" + filepath.Join(t.TempDir(), "events.db")
		}
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	logs := &jsonLog{url: make(chan string, 1)}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waited := false // set once exited has been received from
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			<-exited
		}
	})

	var url string
	select {
	case url = <-logs.url:
	case err := <-exited:
		waited = true
		t.Fatalf("herald exited before serving: %v\n%s", err, logs)
	case <-time.After(30 * time.Second):
		t.Fatalf("herald logged no \"herald serving\" line in 30 s\n%s", logs)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	do(ctx, t, http.MethodGet, url+"/readyz", nil, "", http.StatusOK).Body.Close()
	// The binary's /metrics, not only the in-process server's, serves
	// every metric the kit queries.
	problems, _ := checkQueries(kitQueries(t), scrape(ctx, t, url), documentedLabelValues(t))
	for _, p := range problems {
		t.Errorf("herald serve's /metrics: %s", p)
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		waited = true
		if err != nil {
			t.Errorf("herald serve exited with %v after SIGTERM, want 0\n%s", err, logs)
		}
	case <-time.After(stop):
		t.Errorf("herald serve still runs %v after SIGTERM: systemd would kill it\n%s", stop, logs)
	}
}

// jsonLog collects herald's JSON log lines and sends the URL of its
// "herald serving" line on url.
type jsonLog struct {
	mu   sync.Mutex
	buf  []byte // an unfinished line
	all  strings.Builder
	seen bool
	url  chan string
}

func (l *jsonLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.all.Write(p)
	l.buf = append(l.buf, p...)
	for {
		i := slices.Index(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		var line struct{ Msg, URL string }
		if json.Unmarshal(l.buf[:i], &line) == nil && line.Msg == "herald serving" && !l.seen {
			l.seen = true
			l.url <- line.URL
		}
		l.buf = l.buf[i+1:]
	}
}

func (l *jsonLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.all.String()
}
