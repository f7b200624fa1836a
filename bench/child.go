package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// child is a process running this binary in another role. It talks JSON
// lines over stdin and stdout; its stderr is kept in a short tail.
type child struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
	log   *logTail
	mu    sync.Mutex // one command at a time
}

// startChild runs this binary with args. The child is killed when ctx ends
// or, through Pdeathsig, when this process dies.
func startChild(ctx context.Context, name string, args ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, exe, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	cmd.WaitDelay = 2 * time.Second
	c := &child{cmd: cmd, log: &logTail{name: name, max: 40}}
	cmd.Stderr = c.log
	if c.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	c.out = bufio.NewReaderSize(stdout, 1<<20)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

// readLine reads the child's next stdout line; it fails if the child exits.
func (c *child) readLine() ([]byte, error) {
	line, err := c.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("%s exited: %w (stderr: %s)", c.log.name, err, c.log.String())
	}
	return line, nil
}

// call sends one command and decodes the one-line reply.
func (c *child) call(cmd loadCmd) (loadReply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r loadReply
	b, _ := json.Marshal(cmd)
	if _, err := c.stdin.Write(append(b, '\n')); err != nil {
		return r, fmt.Errorf("%s: send %s: %w", c.log.name, cmd.Op, err)
	}
	line, err := c.readLine()
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("%s: reply to %s: %w", c.log.name, cmd.Op, err)
	}
	if r.Err != "" {
		return r, fmt.Errorf("%s: %s: %s", c.log.name, cmd.Op, r.Err)
	}
	return r, nil
}

// stop closes the child's stdin, which ends it, and kills it if it is
// still there after two seconds.
func (c *child) stop() {
	c.stdin.Close()
	done := make(chan struct{})
	go func() { _ = c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		_ = c.cmd.Process.Kill()
		<-done
	}
}

// logTail keeps the first max lines written to it and counts the rest.
type logTail struct {
	name    string
	max     int
	mu      sync.Mutex
	partial []byte
	lines   []string
	dropped int
}

func (l *logTail) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		if len(l.lines) < l.max {
			l.lines = append(l.lines, string(l.partial[:i]))
		} else {
			l.dropped++
		}
		l.partial = l.partial[i+1:]
	}
	if len(l.partial) > 4096 {
		l.partial = l.partial[:0]
	}
	return len(p), nil
}

// Lines returns what was kept, with a note of how much was dropped.
func (l *logTail) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := append([]string(nil), l.lines...)
	if l.dropped > 0 {
		out = append(out, fmt.Sprintf("... and %d more lines", l.dropped))
	}
	return out
}

func (l *logTail) String() string { return strings.Join(l.Lines(), " | ") }

// serverProc is a running server under test.
type serverProc struct {
	*child
	hello serverHello
	http  *http.Client
}

func startServer(ctx context.Context, impl string, deadline time.Duration, cpuProfile string, extra ...string) (*serverProc, error) {
	args := append([]string{"-role", "server", "-impl", impl, "-addr", "127.0.0.1:0", "-deadline", deadline.String(), "-cpuprofile", cpuProfile}, extra...)
	c, err := startChild(ctx, impl+" server", args...)
	if err != nil {
		return nil, err
	}
	s := &serverProc{child: c, http: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}}
	line, err := c.readLine()
	if err == nil {
		err = json.Unmarshal(line, &s.hello)
	}
	if err != nil {
		c.stop()
		return nil, fmt.Errorf("%s server: %w", impl, err)
	}
	return s, nil
}

func (s *serverProc) url(path string) string { return "http://" + s.hello.Addr + path }

func (s *serverProc) do(ctx context.Context, method, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, method, s.url(path), nil)
	if err != nil {
		return err
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (s *serverProc) stats(ctx context.Context) (serverStats, error) {
	var st serverStats
	err := s.do(ctx, http.MethodGet, "/bench/stats", &st)
	return st, err
}

func (s *serverProc) gc(ctx context.Context) error {
	var v struct{}
	return s.do(ctx, http.MethodPost, "/bench/gc", &v)
}

// cpu returns the CPU time the server has used, from getrusage in the
// server (see serverStats.CPUNS), and from /proc/<pid>/stat as a check.
func (s *serverProc) cpu(ctx context.Context) (rusage, procStat time.Duration, err error) {
	st, err := s.stats(ctx)
	if err != nil {
		return 0, 0, err
	}
	procStat, err = procCPU(s.pid())
	return time.Duration(st.CPUNS), procStat, err
}

// publish asks the server to publish n events and waits until it has.
func (s *serverProc) publish(ctx context.Context, topic string, n, size, rate int, warm bool) (publishResult, error) {
	q := url.Values{"topic": {topic}, "n": {strconv.Itoa(n)}, "size": {strconv.Itoa(size)}, "rate": {strconv.Itoa(rate)}}
	if warm {
		q.Set("kind", "warm")
	}
	var r publishResult
	err := s.do(ctx, http.MethodPost, "/bench/publish?"+q.Encode(), &r)
	if err == nil && r.Errors > 0 {
		err = fmt.Errorf("publish: %d of %d failed, first: %s", r.Errors, n, r.FirstErr)
	}
	return r, err
}

// procRSS returns the resident set size of process pid in KiB.
func procRSS(pid int) (int64, error) { return procStatusKiB(pid, "VmRSS") }

// procStatusKiB returns a field of /proc/<pid>/status given in kB, such as
// VmRSS or VmHWM (peak RSS).
func procStatusKiB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			return strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no %s", pid, field)
}

// clockTick is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; it
// is 100 on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// procCPU returns the user plus system CPU time process pid has used.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad utime/stime", pid)
	}
	return time.Duration(u+s) * clockTick, nil
}
