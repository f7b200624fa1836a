package testenv

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisServer is a private redis-server process started by
// [StartRedisServer] for one test: it listens on 127.0.0.1 on a port of its
// own and keeps its files in a temporary directory. [RedisServer.Stop] and
// [RedisServer.Start] restart it on the same port, so tests can take Redis
// away and bring it back. Its methods are safe for concurrent use.
type RedisServer struct {
	t    testing.TB
	addr string
	dir  string
	args []string

	mu     sync.Mutex
	proc   *os.Process // nil while stopped
	exited chan error  // receives the exit of proc
}

// DefaultRedisAddr is the Redis server NeedRedis tries when
// HERALD_TEST_REDIS is not set.
const DefaultRedisAddr = "127.0.0.1:6379"

// NeedRedis returns the host:port of a Redis server that answers PING: the
// one HERALD_TEST_REDIS names, or DefaultRedisAddr. When none answers within
// two seconds it skips t, or fails it when CI=true.
func NeedRedis(t testing.TB) string {
	t.Helper()
	return need(t, "redis", "HERALD_TEST_REDIS", func() (string, error) {
		addr := envOr("HERALD_TEST_REDIS", DefaultRedisAddr)
		return addr, pingRedis(addr, 2*time.Second)
	})
}

// pingRedis sends PING to the Redis server at addr over a raw TCP connection
// and expects +PONG, all within timeout.
func pingRedis(addr string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return err
	}
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return fmt.Errorf("ping %s: %w", addr, err)
	}
	if reply := strings.TrimRight(line, "\r\n"); reply != "+PONG" {
		return fmt.Errorf("ping %s: %w: %q", addr, errNotPong, reply)
	}
	return nil
}

var errNotPong = errors.New("reply is not +PONG")

// StartRedis returns the host:port of a Redis server for t: a private
// redis-server started with [StartRedisServer] when that program is on
// PATH, or else the shared one [NeedRedis] finds (skipping t, or failing it
// when CI=true, when there is none).
func StartRedis(t testing.TB) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		return NeedRedis(t)
	}
	return StartRedisServer(t).Addr()
}

// StartRedisServer starts a private redis-server for t and stops it when t
// ends. It listens on a free port on 127.0.0.1 and runs in a directory from
// t.TempDir with "--save ” --appendonly no" (nothing survives a restart);
// args are appended to its command line and override those, for example
// "--appendonly", "yes", "--appendfsync", "always" for a server that keeps
// every acknowledged write across [RedisServer.Stop]. It returns once the
// server answers PING. When redis-server is not on PATH it skips t, or fails
// it when CI=true.
func StartRedisServer(t testing.TB, args ...string) *RedisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		unavailable(t, "redis", "HERALD_TEST_REDIS", fmt.Errorf("redis-server not on PATH, and a private server is needed: %w", err))
	}
	s := &RedisServer{t: t, dir: t.TempDir(), args: args}
	t.Cleanup(s.kill)
	var err error
	// A port found free may be taken before redis-server binds it; try a
	// few.
	for range 3 {
		var port int
		if port, err = freePort(); err != nil {
			break
		}
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if err = s.start(); err == nil {
			return s
		}
	}
	t.Fatalf("start redis-server: %v", err)
	return nil
}

// Addr returns the server's host:port. It does not change across restarts.
func (s *RedisServer) Addr() string { return s.addr }

// Stop shuts the server down (SIGTERM, which makes Redis flush an append-only
// file) and waits for it to exit. It fails the test on an error; stopping a
// stopped server does nothing.
func (s *RedisServer) Stop() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	proc := s.proc
	s.proc = nil
	if err := proc.Signal(syscall.SIGTERM); err != nil {
		s.t.Fatalf("stop redis-server on %s: %v", s.addr, err)
	}
	if err := <-s.exited; err != nil {
		s.t.Fatalf("redis-server on %s exited with %v; log:\n%s", s.addr, err, s.log())
	}
}

// Start starts the server again on the same port and directory after
// [RedisServer.Stop], and returns once it answers PING. It fails the test
// on an error; starting a running server does nothing.
func (s *RedisServer) Start() {
	s.t.Helper()
	if err := s.start(); err != nil {
		s.t.Fatalf("restart redis-server on %s: %v", s.addr, err)
	}
}

func (s *RedisServer) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return nil
	}
	_, port, _ := net.SplitHostPort(s.addr)
	args := append([]string{
		"--port", port, "--bind", "127.0.0.1", "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--logfile", "redis.log",
	}, s.args...)
	cmd := exec.Command("redis-server", args...)
	cmd.Dir = s.dir
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redis-server %v: %w", args, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := pingRedis(s.addr, time.Second)
		if err == nil {
			s.proc, s.exited = cmd.Process, exited
			return nil
		}
		select {
		case werr := <-exited:
			return fmt.Errorf("redis-server on %s exited at start (%v); log:\n%s", s.addr, werr, s.log())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("redis-server on %s: no PONG within 10s: %w", s.addr, err)
		}
	}
}

// log returns the server's log file, for failure messages.
func (s *RedisServer) log() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "redis.log"))
	if err != nil {
		return err.Error()
	}
	return string(bytes.TrimSpace(b))
}

// kill ends a server still running when the test ends.
func (s *RedisServer) kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return
	}
	s.proc.Kill()
	<-s.exited
	s.proc = nil
}

// freePort returns a TCP port on 127.0.0.1 that nothing listened on a
// moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("listener address is not TCP")
	}
	return addr.Port, nil
}
