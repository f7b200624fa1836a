package deploy_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v2"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/presence"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
)

// The files of the kit, relative to this package's directory.
const (
	dashboardFile = "herald-dashboard.json"
	rulesGlob     = "*.rules.yml"
	rulesTestGlob = "*.rules.test.yml"
	unitFile      = "herald.service"
	envFile       = "herald.env.example"
	metricsDoc    = "../docs/metrics.md"
)

// targetLabels are the labels Prometheus gives every series of a target;
// herald does not serve them.
var targetLabels = map[string]bool{"job": true, "instance": true}

// prometheusSeries are the series Prometheus makes for every target itself,
// allowed in any query.
var prometheusSeries = map[string]bool{"up": true}

// exporterSeries are the series other exporters serve, allowed only in the
// file named: the blackbox exporter's probe of /readyz.
var exporterSeries = map[string]map[string]bool{
	"herald-readyz.rules.yml": {"probe_success": true},
}

// need returns the path of tool on PATH. When there is none it skips t, or
// fails it under CI=true, where .ci/run installs it.
func need(t *testing.T, tool string) string {
	t.Helper()
	path, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is required under CI=true (.ci/run installs it): %v", tool, err)
		}
		t.Skipf("%s not on PATH: %v", tool, err)
	}
	return path
}

// startHerald serves a hub over a memory store with herald's API, drives a
// little traffic through it (a subscriber that reads three events, one that
// resumes with Last-Event-ID, one refused publish), and returns its
// /metrics, scraped while both streams are open.
func startHerald(t *testing.T) exposition {
	t.Helper()
	log := memory.New(memory.Options{})
	reg, err := presence.NewMemory(presence.MemoryOptions{}) // as herald serve keeps it by default
	if err != nil {
		t.Fatal(err)
	}
	h, err := hub.New(hub.Options{Log: log, Presence: reg, PresenceEvents: server.PresenceEvents})
	if err != nil {
		t.Fatal(err)
	}
	// The Mercure hub on, as with herald serve --mercure-key: its endpoint
	// label's values are exported too.
	srv, err := server.New(server.Options{Hub: h, Heartbeat: -1, Mercure: &mercure.Options{Auth: mercure.AuthOptions{
		PublisherKeys: []mercure.Key{{Secret: []byte("a-mercure-publisher-key-for-the-test")}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(func() {
		cancel() // the streams' requests
		closeCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
		defer done()
		if err := h.Close(closeCtx); err != nil {
			t.Errorf("hub.Close: %v", err)
		}
		if err := srv.Close(closeCtx); err != nil {
			t.Errorf("server.Close: %v", err)
		}
		ts.Close()
		if err := log.Close(); err != nil {
			t.Errorf("memory log Close: %v", err)
		}
		if err := reg.Close(closeCtx); err != nil {
			t.Errorf("presence Close: %v", err)
		}
	})

	live := subscribe(ctx, t, ts.URL, "")
	var ids []string
	for i := range 3 {
		ids = append(ids, publish(ctx, t, ts.URL, fmt.Sprintf(`{"topic": "chat/lobby", "data": "%d"}`, i), http.StatusCreated))
	}
	for i := range 3 {
		ev, err := live.Next()
		if err != nil || ev.ID != ids[i] {
			t.Fatalf("live stream: event %d is %+v (%v), want ID %s", i, ev, err, ids[i])
		}
	}
	resumed := subscribe(ctx, t, ts.URL, ids[0])
	for _, want := range ids[1:] {
		if ev, err := resumed.Next(); err != nil || ev.ID != want {
			t.Fatalf("resumed stream: got %+v (%v), want replayed ID %s", ev, err, want)
		}
	}
	publish(ctx, t, ts.URL, `{"topic": "chat//lobby"}`, http.StatusBadRequest)

	m := scrape(ctx, t, ts.URL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"herald_streams_open", nil, 2},
		{"herald_events_published_total", nil, 5}, // and the two streams' herald:join on presence/chat/lobby
		{"herald_presence_subscriptions", nil, 2},
		{"herald_presence_cluster_subscriptions", nil, 2},
		{"herald_events_delivered_total", nil, 5},
		{"herald_replays_total", nil, 1},
		{"herald_publish_errors_total", map[string]string{"endpoint": "events", "reason": "invalid"}, 1},
		{"herald_publish_duration_seconds_count", map[string]string{"endpoint": "events"}, 4},
	} {
		if got, ok := m.value(c.name, c.labels); !ok || got != c.want {
			t.Errorf("after the traffic, /metrics has %s%v = %v (present: %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	return m
}

// do sends a request to herald and fails t unless it answers status. The
// caller closes the body.
func do(ctx context.Context, t *testing.T, method, url string, header http.Header, body string, status int) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	maps.Copy(req.Header, header)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != status {
		resp.Body.Close()
		t.Fatalf("%s %s: status %d, want %d", method, url, resp.StatusCode, status)
	}
	return resp
}

// subscribe opens GET /events on chat/*, resuming after lastID if it is
// not empty, and returns a decoder once the stream's opening retry hint is
// read: by then the subscription is made.
func subscribe(ctx context.Context, t *testing.T, url, lastID string) *sse.Decoder {
	t.Helper()
	header := http.Header{}
	if lastID != "" {
		header.Set("Last-Event-ID", lastID)
	}
	resp := do(ctx, t, http.MethodGet, url+"/events?topic=chat/*", header, "", http.StatusOK)
	t.Cleanup(func() { resp.Body.Close() })
	br := bufio.NewReader(resp.Body)
	for _, prefix := range []string{"retry:", "\n"} {
		if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, prefix) {
			t.Fatalf("GET /events opened with %q (%v), want a line starting %q", line, err, prefix)
		}
	}
	return sse.NewDecoder(br)
}

// publish posts body to /events, expects status, and returns the event ID
// of a success.
func publish(ctx context.Context, t *testing.T, url, body string, status int) string {
	t.Helper()
	resp := do(ctx, t, http.MethodPost, url+"/events", http.Header{"Content-Type": {"application/json"}}, body, status)
	defer resp.Body.Close()
	var out struct{ ID, Error string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("POST /events %s: the answer is no JSON: %v", body, err)
	}
	return out.ID
}

// scrape fetches and parses url's /metrics.
func scrape(ctx context.Context, t *testing.T, url string) exposition {
	t.Helper()
	resp := do(ctx, t, http.MethodGet, url+"/metrics", nil, "", http.StatusOK)
	defer resp.Body.Close()
	m, err := parseExposition(resp.Body)
	if err != nil {
		t.Fatalf("GET /metrics: %v", err)
	}
	return m
}

// dashboard is the part of Grafana's dashboard JSON model the checks read.
type dashboard struct {
	Title         string
	UID           string
	SchemaVersion int
	Templating    struct{ List []variable }
	Panels        []panel
}

type variable struct {
	Type, Name, Query, Definition string
	Datasource                    *datasourceRef
}

type datasourceRef struct{ Type, UID string }

type panel struct {
	ID          int
	Type        string
	Title       string
	Description string
	Datasource  *datasourceRef
	GridPos     struct{ H, W, X, Y int }
	Targets     []struct {
		RefID        string `json:"refId"`
		Expr         string
		LegendFormat string
		Datasource   *datasourceRef
	}
	FieldConfig struct{ Defaults struct{ Unit string } }
	Panels      []panel
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s is not a dashboard's JSON: %v", dashboardFile, err)
	}
	return d
}

// rulesFile is a Prometheus rules file.
type rulesFile struct {
	Groups []struct {
		Name  string
		Rules []struct {
			Alert, Record, Expr, For string
			Labels, Annotations      map[string]string
		}
	}
}

func readRules(t *testing.T) map[string]rulesFile {
	t.Helper()
	paths, err := filepath.Glob(rulesGlob)
	if err != nil || len(paths) == 0 {
		t.Fatalf("no %s: %v", rulesGlob, err)
	}
	files := make(map[string]rulesFile)
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		var f rulesFile
		if err := yaml.UnmarshalStrict(b, &f); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		files[p] = f
	}
	return files
}

// namedQuery is one PromQL expression of the kit, with where it is.
type namedQuery struct {
	where, file, expr string
}

// labelValuesQuery matches a Grafana variable's label_values(selector, label).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([A-Za-z_][A-Za-z0-9_]*)\)$`)

// kitQueries returns every PromQL expression of the dashboard (its panels'
// targets, and the selectors of its variables) and of the rules.
func kitQueries(t *testing.T) []namedQuery {
	t.Helper()
	var qs []namedQuery
	d := readDashboard(t)
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		m := labelValuesQuery.FindStringSubmatch(v.Query)
		if m == nil {
			t.Errorf("dashboard variable %s: query %q is not label_values(selector, label)", v.Name, v.Query)
			continue
		}
		// The label must be one the selector's series carry: checked with
		// the selector, as a grouping label.
		qs = append(qs, namedQuery{"dashboard variable " + v.Name, dashboardFile, "sum by (" + m[2] + ") (" + m[1] + ")"})
	}
	for _, p := range allPanels(d.Panels) {
		for _, tg := range p.Targets {
			qs = append(qs, namedQuery{fmt.Sprintf("dashboard panel %q target %s", p.Title, tg.RefID), dashboardFile, tg.Expr})
		}
	}
	for path, f := range readRules(t) {
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				qs = append(qs, namedQuery{fmt.Sprintf("%s alert %s", path, r.Alert+r.Record), path, r.Expr})
			}
		}
	}
	return qs
}

// allPanels returns panels and those inside collapsed rows.
func allPanels(ps []panel) []panel {
	var all []panel
	for _, p := range ps {
		all = append(all, p)
		all = append(all, allPanels(p.Panels)...)
	}
	return all
}

// documentedLabelValues reads the table of docs/metrics.md: for each row
// whose metric has a label, such as `herald_publish_errors_total{reason}`,
// the values its description lists in backquotes.
func documentedLabelValues(t *testing.T) map[string]map[string]map[string]bool {
	t.Helper()
	b, err := os.ReadFile(metricsDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("^\\| `(herald_[a-z_]+)\\{([a-z_,]+)\\}` \\|(.*)$")
	value := regexp.MustCompile("`([a-z_]+)`")
	docs := make(map[string]map[string]map[string]bool)
	for line := range strings.Lines(string(b)) {
		m := row.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		labels := strings.Split(m[2], ",")
		docs[m[1]] = make(map[string]map[string]bool)
		for _, label := range labels {
			// One label: every value in the row is its. Several: each
			// label's values follow "`label`:", up to the next label's.
			text := m[3]
			if len(labels) > 1 {
				_, after, ok := strings.Cut(text, "`"+label+"`:")
				if !ok {
					t.Fatalf("%s: the row of %s does not say `%s`: and its values", metricsDoc, m[1], label)
				}
				for _, other := range labels {
					if i := strings.Index(after, "`"+other+"`:"); i >= 0 {
						after = after[:i]
					}
				}
				text = after
			}
			vals := make(map[string]bool)
			for _, v := range value.FindAllStringSubmatch(text, -1) {
				vals[v[1]] = true
			}
			docs[m[1]][label] = vals
		}
	}
	if len(docs) == 0 {
		t.Fatalf("%s: no table row of a labelled metric", metricsDoc)
	}
	return docs
}

// literalAlternatives matches a regex that is a plain list of label values,
// such as unavailable|internal; anything else (.+, $job) is not checked
// value by value.
var literalAlternatives = regexp.MustCompile(`^[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*$`)

// checkQueries returns a problem for every metric, label or label value
// the queries use that m does not serve, for a label value docs/metrics.md
// does not list, and for a query it cannot read; and the metric families
// the queries read.
func checkQueries(qs []namedQuery, m exposition, docs map[string]map[string]map[string]bool) (problems []string, used map[string]bool) {
	used = make(map[string]bool)
	report := func(q namedQuery, format string, args ...any) {
		problems = append(problems, q.where+": "+fmt.Sprintf(format, args...))
	}
	for _, q := range qs {
		parsed, err := parsePromQL(q.expr)
		if err != nil {
			report(q, "%v", err)
			continue
		}
		if len(parsed.selectors) == 0 {
			report(q, "%q reads no metric", q.expr)
		}
		labels := maps.Clone(targetLabels)
		for _, s := range parsed.selectors {
			external := prometheusSeries[s.name] || exporterSeries[filepath.Base(q.file)][s.name]
			if _, served := m.series[s.name]; !served && !external {
				report(q, "metric %s is not on herald's /metrics", s.name)
				continue
			}
			fam := m.family(s.name)
			used[fam] = true
			for _, smp := range m.series[s.name] {
				for l := range smp.labels {
					labels[l] = true
				}
			}
			for _, mt := range s.matchers {
				if targetLabels[mt.label] || mt.label == "__name__" {
					continue
				}
				if external {
					report(q, "%s is not herald's, so only job and instance can be matched, not %s", s.name, mt.label)
					continue
				}
				served := m.labelValues(s.name, mt.label)
				if len(served) == 0 {
					report(q, "%s has no label %s on /metrics", s.name, mt.label)
					continue
				}
				if (mt.op == "=~" || mt.op == "!~") && !literalAlternatives.MatchString(mt.value) {
					continue
				}
				documented, isDoc := docs[fam][mt.label]
				for v := range strings.SplitSeq(mt.value, "|") {
					if !served[v] {
						report(q, "%s{%s=%q}: /metrics has no such value; it has %v", s.name, mt.label, v, slices.Sorted(maps.Keys(served)))
					}
					if isDoc && !documented[v] {
						report(q, "%s{%s=%q}: %s does not document that value", s.name, mt.label, v, metricsDoc)
					}
				}
			}
		}
		for _, l := range parsed.grouping {
			if !labels[l] {
				report(q, "groups by %s, a label none of its metrics has", l)
			}
		}
	}
	return problems, used
}

// TestQueriesMatchMetrics starts herald in-process, drives traffic, scrapes
// /metrics, and checks every metric, label and label value the dashboard
// and the alert rules query against it; that docs/metrics.md lists exactly
// the label values herald exports; and that the dashboard shows every
// herald metric.
func TestQueriesMatchMetrics(t *testing.T) {
	m := startHerald(t)
	docs := documentedLabelValues(t)
	qs := kitQueries(t)
	problems, used := checkQueries(qs, m, docs)
	for _, p := range problems {
		t.Error(p)
	}

	t.Run("docs list the label values herald exports", func(t *testing.T) {
		for fam, byLabel := range docs {
			for label, documented := range byLabel {
				served := m.labelValues(fam, label)
				if len(served) == 0 { // a histogram: its series are _bucket, _sum and _count
					served = m.labelValues(fam+"_count", label)
				}
				if !maps.Equal(served, documented) {
					t.Errorf("%s{%s}: /metrics has %v, %s lists %v", fam, label,
						slices.Sorted(maps.Keys(served)), metricsDoc, slices.Sorted(maps.Keys(documented)))
				}
			}
		}
	})

	t.Run("the dashboard shows every herald metric", func(t *testing.T) {
		dashUsed := make(map[string]bool)
		for _, q := range qs {
			if q.file != dashboardFile {
				continue
			}
			parsed, err := parsePromQL(q.expr)
			if err != nil {
				continue // reported above
			}
			for _, s := range parsed.selectors {
				dashUsed[m.family(s.name)] = true
			}
		}
		for name := range m.series {
			fam := m.family(name)
			if strings.HasPrefix(fam, "herald_") && !dashUsed[fam] {
				t.Errorf("%s is on /metrics but no dashboard panel shows it", fam)
			}
		}
	})

	if !used["herald_publish_errors_total"] || !used["up"] {
		t.Errorf("the queries read %v: the checks above saw too little", slices.Sorted(maps.Keys(used)))
	}
}

// TestChecksCatchMistakes feeds the query checks queries with the mistakes
// they exist to catch, against a real scrape, and expects each reported.
func TestChecksCatchMistakes(t *testing.T) {
	m := startHerald(t)
	docs := documentedLabelValues(t)
	noInternal := map[string]map[string]map[string]bool{"herald_publish_errors_total": {"reason": {"unavailable": true}}}
	tests := []struct {
		name, file, expr string
		docs             map[string]map[string]map[string]bool
		want             string // in one of the problems expected; empty: none
	}{
		{"a misspelt metric", "herald.rules.yml", `rate(herald_stream_end_total[5m]) > 0`, docs, "herald_stream_end_total is not on herald's /metrics"},
		{"a histogram by its family name", "herald.rules.yml", `rate(herald_publish_duration_seconds[5m])`, docs, "herald_publish_duration_seconds is not on"},
		{"a reason herald never exports", "herald.rules.yml", `herald_publish_errors_total{reason="store"}`, docs, `reason="store"}: /metrics has no such value`},
		{"one bad alternative of a regex", "herald.rules.yml", `herald_publish_errors_total{reason=~"unavailable|redis"}`, docs, `reason="redis"}: /metrics has no such value`},
		{"a value the docs do not list", "herald.rules.yml", `herald_publish_errors_total{reason="internal"}`, noInternal, "does not document that value"},
		{"a label the metric does not have", "herald.rules.yml", `herald_streams_open{reason="slow"}`, docs, "herald_streams_open has no label reason"},
		{"grouping by a label no metric has", "herald.rules.yml", `sum by (reason) (herald_streams_open)`, docs, "groups by reason"},
		{"the blackbox exporter's metric outside its file", "herald.rules.yml", `probe_success == 0`, docs, "probe_success is not on"},
		{"a label of up other than job and instance", "herald.rules.yml", `up{reason="x"} == 0`, docs, "only job and instance"},
		{"an expression that does not lex", "herald.rules.yml", `rate(herald_gaps_total{reason="x"[5m])`, docs, "promql"},
		{"no metric at all", "herald.rules.yml", `vector(1)`, docs, "reads no metric"},
		{"a Grafana variable outside a string", dashboardFile, `rate(herald_gaps_total[5m]) > $threshold`, docs, "Grafana variable"},
		{"the blackbox exporter's metric in its file", "herald-readyz.rules.yml", `probe_success{job="herald-readyz"} == 0`, docs, ""},
		{"a selector by __name__", dashboardFile, `sum by (instance) ({__name__="herald_gaps_total", job=~"$job"})`, docs, ""},
		{"a regex the check cannot split", dashboardFile, `herald_stream_ends_total{reason=~"s.*"}`, docs, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			problems, _ := checkQueries([]namedQuery{{"query", tt.file, tt.expr}}, m, tt.docs)
			found := slices.ContainsFunc(problems, func(p string) bool { return strings.Contains(p, tt.want) })
			switch {
			case tt.want == "" && len(problems) > 0:
				t.Errorf("%s: problems %q, want none", tt.expr, problems)
			case tt.want != "" && !found:
				t.Errorf("%s: problems %q, want one containing %q", tt.expr, problems, tt.want)
			}
		})
	}
}

// grafanaVariable matches a variable in a dashboard query: $name or ${name}.
var grafanaVariable = regexp.MustCompile(`\$\{?([A-Za-z0-9_]+)\}?`)

// builtinRanges are Grafana's built-in variables the dashboard uses, with a
// value that stands for them when promtool checks a query.
var builtinRanges = map[string]string{"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}

// TestDashboard checks the dashboard's structure as Grafana imports it: a
// Prometheus datasource variable that every panel and target uses, unique
// panel IDs, panels within the grid and not overlapping, each with a
// title, a description, a unit and targets with unique refIds and a query,
// and only defined variables in the queries.
func TestDashboard(t *testing.T) {
	d := readDashboard(t)
	if d.Title == "" || d.UID == "" || d.SchemaVersion < 36 {
		t.Errorf("title %q, uid %q, schemaVersion %d: want a title, a uid and a schema of Grafana 9 or later", d.Title, d.UID, d.SchemaVersion)
	}
	want := datasourceRef{Type: "prometheus", UID: "${datasource}"}
	vars := maps.Clone(builtinRanges)
	var hasDatasource bool
	for _, v := range d.Templating.List {
		vars[v.Name] = ""
		switch v.Type {
		case "datasource":
			hasDatasource = hasDatasource || v.Name == "datasource" && v.Query == "prometheus"
		case "query":
			if v.Datasource == nil || *v.Datasource != want {
				t.Errorf("variable %s: datasource %v, want %v", v.Name, v.Datasource, want)
			}
		}
	}
	if !hasDatasource {
		t.Fatal(`no variable "datasource" of type datasource for prometheus`)
	}

	ids := make(map[int]bool)
	var placed []panel
	panels := allPanels(d.Panels)
	if len(panels) == 0 || panels[0].Type != "row" {
		t.Errorf("the dashboard must start with a row")
	}
	for _, p := range panels {
		if ids[p.ID] || p.ID <= 0 {
			t.Errorf("panel %q: id %d is not positive or not unique", p.Title, p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v is outside Grafana's 24 columns", p.Title, g)
		}
		for _, o := range placed {
			og := o.GridPos
			if g.X < og.X+og.W && og.X < g.X+g.W && g.Y < og.Y+og.H && og.Y < g.Y+g.H {
				t.Errorf("panels %q and %q overlap: %+v and %+v", p.Title, o.Title, g, og)
			}
		}
		placed = append(placed, p)
		if p.Type == "row" {
			continue
		}
		if p.Title == "" || p.Description == "" {
			t.Errorf("panel %d: title %q, description %q: want both", p.ID, p.Title, p.Description)
		}
		if p.Datasource == nil || *p.Datasource != want {
			t.Errorf("panel %q: datasource %v, want %v", p.Title, p.Datasource, want)
		}
		if p.FieldConfig.Defaults.Unit == "" {
			t.Errorf("panel %q: no unit", p.Title)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q: no targets", p.Title)
		}
		refs := make(map[string]bool)
		for _, tg := range p.Targets {
			if tg.RefID == "" || refs[tg.RefID] {
				t.Errorf("panel %q: refId %q is empty or repeated", p.Title, tg.RefID)
			}
			refs[tg.RefID] = true
			if tg.Datasource == nil || *tg.Datasource != want {
				t.Errorf("panel %q target %s: datasource %v, want %v", p.Title, tg.RefID, tg.Datasource, want)
			}
			if strings.TrimSpace(tg.Expr) == "" {
				t.Errorf("panel %q target %s: no query", p.Title, tg.RefID)
			}
			for _, m := range grafanaVariable.FindAllStringSubmatch(tg.Expr, -1) {
				if _, ok := vars[m[1]]; !ok {
					t.Errorf("panel %q target %s: variable $%s is not defined", p.Title, tg.RefID, m[1])
				}
			}
		}
	}
}

// TestRules checks what promtool does not: every rule is an alert with a
// for: duration, a severity of critical, warning or info, and a summary
// and a description; alert names are unique across the files.
func TestRules(t *testing.T) {
	names := make(map[string]string)
	for path, f := range readRules(t) {
		if len(f.Groups) == 0 {
			t.Errorf("%s: no rule groups", path)
		}
		for _, g := range f.Groups {
			for _, r := range g.Rules {
				where := path + " " + r.Alert
				if r.Alert == "" {
					t.Errorf("%s: rule %q is not an alert", path, r.Record)
					continue
				}
				if prev, dup := names[r.Alert]; dup {
					t.Errorf("%s: alert name also in %s", where, prev)
				}
				names[r.Alert] = path
				if d, err := time.ParseDuration(r.For); err != nil || d < time.Minute {
					t.Errorf("%s: for: %q (%v), want a duration of a minute or more", where, r.For, err)
				}
				if sev := r.Labels["severity"]; sev != "critical" && sev != "warning" && sev != "info" {
					t.Errorf("%s: severity %q, want critical, warning or info", where, sev)
				}
				for _, a := range []string{"summary", "description"} {
					if strings.TrimSpace(r.Annotations[a]) == "" {
						t.Errorf("%s: no %s annotation", where, a)
					}
				}
			}
		}
	}
}

// TestPromtool runs promtool on the rules (check, and their unit tests),
// and checks the PromQL of every dashboard query by handing it to promtool
// as a recording rule, with Grafana's variables replaced by values.
func TestPromtool(t *testing.T) {
	promtool := need(t, "promtool")
	run := func(t *testing.T, args ...string) bool {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return err == nil
	}
	t.Run("check rules", func(t *testing.T) {
		paths, _ := filepath.Glob(rulesGlob)
		run(t, append([]string{"check", "rules"}, paths...)...)
	})
	t.Run("test rules", func(t *testing.T) {
		paths, _ := filepath.Glob(rulesTestGlob)
		if len(paths) == 0 {
			t.Fatalf("no %s", rulesTestGlob)
		}
		run(t, append([]string{"test", "rules"}, paths...)...)
	})
	t.Run("dashboard queries", func(t *testing.T) {
		var b strings.Builder
		b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
		for i, q := range kitQueries(t) {
			if q.file != dashboardFile {
				continue
			}
			expr := grafanaVariable.ReplaceAllStringFunc(q.expr, func(v string) string {
				name := strings.Trim(v, "${}")
				if r, ok := builtinRanges[name]; ok {
					return r
				}
				return ".+" // a user variable, always inside a regex matcher
			})
			where, _ := json.Marshal(q.where)
			quoted, _ := json.Marshal(expr) // a JSON string is a YAML double-quoted scalar
			fmt.Fprintf(&b, "      # %s\n      - record: dashboard:query_%d\n        expr: %s\n", where, i, quoted)
		}
		path := filepath.Join(t.TempDir(), "dashboard.rules.yml")
		if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if !run(t, "check", "rules", path) {
			t.Logf("the rules file promtool read, each query with its place in the dashboard:\n%s", b.String())
		}
	})
}
