// Package testenv gates tests on what the machine provides, as the standard
// library's internal/testenv does: a test that needs Chromium, Node.js, Redis
// or Python with Flask asks for it first, and is skipped with the reason when
// it is missing, unless the environment variable CI is "true", where a missing
// dependency fails the test instead, so CI cannot pass by skipping.
package testenv

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// chromiumNames are the programs NeedChromium looks for on PATH, in order.
var chromiumNames = []string{"chromium", "chromium-browser", "google-chrome"}

// NeedChromium returns the path of a Chromium or Chrome executable: the one
// HERALD_TEST_CHROMIUM names, or else the first of chromium,
// chromium-browser and google-chrome found on PATH. When there is none it
// skips t, or fails it when CI=true.
func NeedChromium(t testing.TB) string {
	t.Helper()
	return need(t, "chromium", "HERALD_TEST_CHROMIUM", findChromium)
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
	return need(t, "node", "HERALD_TEST_NODE", findNode)
}

// DefaultPython is the Python NeedPythonFlask tries when HERALD_TEST_PYTHON
// is not set: Debian's, the one its python3-flask package installs for.
const DefaultPython = "/usr/bin/python3"

// NeedPythonFlask returns the path of a Python that can import Flask: the
// one HERALD_TEST_PYTHON names, or DefaultPython. When it is missing or
// cannot import flask it skips t, or fails it when CI=true.
func NeedPythonFlask(t testing.TB) string {
	t.Helper()
	return need(t, "python3-flask", "HERALD_TEST_PYTHON", findPythonFlask)
}

func findPythonFlask() (string, error) {
	path, err := exec.LookPath(envOr("HERALD_TEST_PYTHON", DefaultPython))
	if err != nil {
		return "", err
	}
	if out, err := exec.Command(path, "-c", "import flask").CombinedOutput(); err != nil {
		return "", fmt.Errorf("%s cannot import flask (apt-get install -y python3-flask): %w: %s", path, err, bytes.TrimSpace(out))
	}
	return path, nil
}

func findNode() (string, error) {
	path, err := exec.LookPath(envOr("HERALD_TEST_NODE", "node"))
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

// envOr returns the environment variable key, or def when it is empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// need returns what find finds, or else skips t, or fails it when CI=true,
// saying what is missing and which variable envVar names it.
func need(t testing.TB, what, envVar string, find func() (string, error)) string {
	t.Helper()
	found, err := find()
	if err != nil {
		unavailable(t, what, envVar, err)
	}
	return found
}

// unavailable skips t because what is missing, or fails it when CI=true.
func unavailable(t testing.TB, what, envVar string, err error) {
	t.Helper()
	const format = "%s unavailable: %v (set %s; fails when CI=true)"
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, what, err, envVar)
	}
	t.Skipf(format, what, err, envVar)
}
