// Package testenv gates tests on what the machine provides, as the standard
// library's internal/testenv does: a test that needs Chromium, Node.js or Redis asks
// for it first, and is skipped with the reason when it is missing, unless
// the environment variable CI is "true", where a missing dependency fails the
// test instead, so CI cannot pass by skipping.
package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// chromiumNames are the programs NeedChromium looks for on PATH, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// NeedChromium returns the path of a Chromium or Chrome executable: the one
// HERALD_TEST_CHROMIUM names, or else the first of chromium,
// chromium-browser and google-chrome found on PATH. When there is none it
// skips t, or fails it when CI=true.
func NeedChromium(t testing.TB) string {
	t.Helper()
	path, err := findChromium()
	if err != nil {
		unavailable(t, "chromium", "HERALD_TEST_CHROMIUM", err)
	}
	return path
}

func findChromium() (string, error) {
	if p := os.Getenv("HERALD_TEST_CHROMIUM"); p != "" {
		path, err := exec.LookPath(p)
		if err != nil {
			return "", fmt.Errorf("HERALD_TEST_CHROMIUM=%q: %w", p, err)
		}
		return path, nil
	}
	for _, name := range chromiumNames {
		if path, err := exec.LookPath(name); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("none of %s on PATH", strings.Join(chromiumNames, ", "))
}

// MinNodeMajor is the oldest Node.js major version NeedNode accepts:
// herald.js's package says node >= 20.
const MinNodeMajor = 20

// NeedNode returns the path of a Node.js executable, version MinNodeMajor or
// later: the one HERALD_TEST_NODE names, or else node on PATH. When there
// is none, or it is older, it skips t, or fails it when CI=true.
func NeedNode(t testing.TB) string {
	t.Helper()
	path, err := findNode()
	if err != nil {
		unavailable(t, "node", "HERALD_TEST_NODE", err)
	}
	return path
}

func findNode() (string, error) {
	name := "node"
	if p := os.Getenv("HERALD_TEST_NODE"); p != "" {
		name = p
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", err
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("%s --version: %w", path, err)
	}
	version := strings.TrimSpace(string(out))
	major, _, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < MinNodeMajor {
		return "", fmt.Errorf("%s is Node %q, want v%d or later", path, version, MinNodeMajor)
	}
	return path, nil
}

// DefaultRedisAddr is the Redis server NeedRedis tries when
// HERALD_TEST_REDIS is not set.
const DefaultRedisAddr = "127.0.0.1:6379"

// NeedRedis returns the host:port of a Redis server that answers PING: the
// one HERALD_TEST_REDIS names, or DefaultRedisAddr. When none answers within
// two seconds it skips t, or fails it when CI=true.
func NeedRedis(t testing.TB) string {
	t.Helper()
	addr := os.Getenv("HERALD_TEST_REDIS")
	if addr == "" {
		addr = DefaultRedisAddr
	}
	if err := pingRedis(addr, 2*time.Second); err != nil {
		unavailable(t, "redis", "HERALD_TEST_REDIS", err)
	}
	return addr
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

// unavailable skips t because what is missing, or fails it when CI=true.
func unavailable(t testing.TB, what, envVar string, err error) {
	t.Helper()
	const format = "%s unavailable: %v (set %s; fails when CI=true)"
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, what, err, envVar)
	}
	t.Skipf(format, what, err, envVar)
}
