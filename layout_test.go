package herald_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/heraldsse/herald"

// allowed lists, for each package, the herald packages it may import
// directly (docs/architecture.md, "Layers"). A package missing here may import only what its
// closest listed parent may; internal/ packages serve whoever needs them,
// except where a rule below says otherwise.
var allowed = map[string][]string{
	"sse":             {},
	"api":             {},
	"js":              {"internal/asset"}, // herald.js, embedded; served as the OpenAPI description is
	"client":          {"sse", "api"},
	"store":           {"sse", "internal/topic"},
	"store/memory":    {"store", "sse", "internal/wake"},
	"store/bolt":      {"store", "sse", "internal/wake"},
	"store/redis":     {"store", "sse", "internal/wake"},
	"store/storetest": {"store", "sse"},
	"hub":             {"sse", "store", "presence", "internal/topic"}, // no concrete store: the caller picks one
	"tasks":           {"sse", "hub"},
	"server":          {"sse", "api", "hub", "tasks", "mercure", "internal/topic", "internal/conn", "presence"},
	"apps":            {"sse", "api", "hub", "tasks", "js"}, // written as a user's module would be
	"mercure":         {"sse"},                              // the protocol alone; the hub plugs in behind its Hub interface
	"openapi":         {"internal/asset"},                   // the description of the HTTP API, embedded
	"internal/asset":  {"api"},                              // serves an embedded file, with the API's error body
	"cmd/herald":      {"*"},
	"deploy":          {"sse", "hub", "server", "store/memory", "presence"}, // its tests start a server as a user's program would
	// The Flask example talks to herald over HTTP only; its Go tests (not
	// checked here) run it against a built herald in Chromium.
	"examples/flask": {},

	// Presence: the records and the Registry interface (a hub imports
	// presence), and the Redis registry, which imports store for
	// ErrUnavailable only.
	"presence":              {},
	"presence/redis":        {"presence", "store"},
	"presence/presencetest": {"presence"},
}

// TestLayout fails when a package imports a herald package its layer may
// not: imports point one way, and apps uses only public APIs.
func TestLayout(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg := strings.TrimPrefix(strings.TrimPrefix(fields[0], module), "/")
		rules, ok := allowed[pkg]
		if !ok {
			if strings.HasPrefix(pkg, "internal/") || pkg == "" {
				rules = []string{"sse", "store", "internal/*"}
			} else {
				t.Errorf("package %s has no layout rule: add it to allowed in layout_test.go", pkg)
				continue
			}
		}
		for _, imp := range fields[1:] {
			dep, ok := strings.CutPrefix(imp, module+"/")
			if !ok {
				continue
			}
			if dep == "cmd/herald" {
				t.Errorf("%s imports cmd/herald, which nothing may import", pkg)
			}
			if !permits(rules, dep) {
				t.Errorf("%s imports %s; allowed: %v", pkg, dep, rules)
			}
		}
	}
}

func permits(rules []string, dep string) bool {
	for _, r := range rules {
		if r == "*" || r == dep || strings.HasSuffix(r, "/*") && strings.HasPrefix(dep, strings.TrimSuffix(r, "*")) {
			return true
		}
	}
	return false
}
