package deploy_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

// selector is one vector selector of a PromQL expression: a metric name
// and its label matchers.
type selector struct {
	name     string
	matchers []matcher
}

// matcher is one label matcher of a selector, such as reason="internal".
type matcher struct {
	label, op, value string
}

// query is what the checks need from a PromQL expression: its selectors,
// and the labels its by, without, on, ignoring, group_left and group_right
// clauses name.
type query struct {
	selectors []selector
	grouping  []string
}

// notMetrics are the identifiers of PromQL that are not metric names when
// no parenthesis follows them: aggregation operators (sum by (x) (...)),
// binary keywords and the number literals Inf and NaN. Functions are told
// apart by the parenthesis that follows them.
var notMetrics = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true, "stddev": true, "stdvar": true,
	"count": true, "count_values": true, "bottomk": true, "topk": true, "quantile": true,
	"limitk": true, "limit_ratio": true,
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"inf": true, "nan": true,
}

// groupers are the keywords followed by a parenthesised list of labels.
var groupers = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
}

// errPromQL wraps every error parsePromQL returns.
var errPromQL = errors.New("promql")

// parsePromQL reads the selectors and grouping labels of expr. It is a
// lexer, not a full parser: it does not check that operators and operands
// fit together (promtool does, in TestPromtool), but it finds every
// metric name and matcher, and refuses what it cannot read (an unclosed
// string, bracket or brace, a malformed matcher, a Grafana variable left
// outside a string or a range) instead of skipping it.
func parsePromQL(expr string) (query, error) {
	var q query
	last := -1 // index in q.selectors of a metric name just read, which a { may qualify
	i := 0
	fail := func(format string, args ...any) (query, error) {
		return query{}, fmt.Errorf("%w: %q at offset %d: %s", errPromQL, expr, i, fmt.Sprintf(format, args...))
	}
	for i < len(expr) {
		c := expr[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == '#':
			for i < len(expr) && expr[i] != '\n' {
				i++
			}
			continue
		case c == '"' || c == '\'' || c == '`':
			_, n, err := readString(expr[i:])
			if err != nil {
				return fail("%v", err)
			}
			i += n
		case c == '[':
			end := strings.IndexByte(expr[i:], ']')
			if end < 0 {
				return fail("unclosed [")
			}
			i += end + 1
		case c == '{':
			ms, n, err := readMatchers(expr[i:])
			if err != nil {
				return fail("%v", err)
			}
			i += n
			if last >= 0 {
				q.selectors[last].matchers = append(q.selectors[last].matchers, ms...)
				last = -1
				continue
			}
			s := selector{matchers: ms}
			for _, m := range ms {
				if m.label == "__name__" && m.op == "=" {
					s.name = m.value
				}
			}
			if s.name == "" {
				return fail("a selector without a metric name")
			}
			q.selectors = append(q.selectors, s)
		case isIdentStart(c):
			start := i
			for i < len(expr) && isIdent(expr[i]) {
				i++
			}
			word := expr[start:i]
			lower := strings.ToLower(word)
			j := skipSpace(expr, i)
			switch {
			case groupers[lower]:
				if j < len(expr) && expr[j] == '(' {
					end := strings.IndexByte(expr[j:], ')')
					if end < 0 {
						return fail("unclosed ( after %s", word)
					}
					for l := range strings.SplitSeq(expr[j+1:j+end], ",") {
						l = strings.TrimSpace(l)
						if l == "" {
							continue
						}
						if !isLabelName(l) {
							return fail("%q in %s (...) is not a label name", l, word)
						}
						q.grouping = append(q.grouping, l)
					}
					i = j + end + 1
				}
			case notMetrics[lower], j < len(expr) && expr[j] == '(':
				// an operator, a keyword or a function
			default:
				q.selectors = append(q.selectors, selector{name: word})
				last = len(q.selectors) - 1
				continue
			}
		case c >= '0' && c <= '9' || c == '.':
			// A number or a duration (0.99, 1e-3, 0x1f, 5m).
			for i < len(expr) && (isIdent(expr[i]) || expr[i] == '.' ||
				(expr[i] == '+' || expr[i] == '-') && (expr[i-1] == 'e' || expr[i-1] == 'E')) {
				i++
			}
		case c == '$':
			return fail("a Grafana variable outside a string or a range")
		case strings.IndexByte("+-*/%^=!<>(),@:", c) >= 0:
			i++
		default:
			return fail("unexpected %q", c)
		}
		last = -1
	}
	return q, nil
}

// readMatchers reads a label matcher list, "{" to "}", from the start of s
// and returns the matchers and the bytes it took.
func readMatchers(s string) ([]matcher, int, error) {
	var ms []matcher
	i := skipSpace(s, 1)
	for {
		if i >= len(s) {
			return nil, 0, errors.New("unclosed {")
		}
		if s[i] == '}' {
			return ms, i + 1, nil
		}
		start := i
		for i < len(s) && isIdent(s[i]) {
			i++
		}
		label := s[start:i]
		if !isLabelName(label) {
			return nil, 0, fmt.Errorf("no label name at %q", s[start:])
		}
		i = skipSpace(s, i)
		var op string
		for _, o := range []string{"=~", "!~", "!=", "="} {
			if strings.HasPrefix(s[i:], o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, 0, fmt.Errorf("no matcher operator after label %s", label)
		}
		i = skipSpace(s, i+len(op))
		value, n, err := readString(s[i:])
		if err != nil {
			return nil, 0, fmt.Errorf("label %s: %w", label, err)
		}
		ms = append(ms, matcher{label, op, value})
		i = skipSpace(s, i+n)
		switch {
		case i < len(s) && s[i] == ',':
			i = skipSpace(s, i+1)
		case i < len(s) && s[i] == '}':
		case i == len(s):
			return nil, 0, errors.New("unclosed {")
		default:
			return nil, 0, fmt.Errorf("want , or } after label %s, got %q", label, s[i:])
		}
	}
}

// readString reads a quoted string ("...", '...' or `...`) from the start
// of s and returns its value, with \x escapes resolved to x, and the bytes
// it took.
func readString(s string) (string, int, error) {
	if s == "" || strings.IndexByte("\"'`", s[0]) < 0 {
		return "", 0, errors.New("no string")
	}
	quote := s[0]
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch {
		case s[i] == quote:
			return b.String(), i + 1, nil
		case s[i] == '\\' && quote != '`':
			i++
			if i == len(s) {
				return "", 0, errors.New("unclosed string")
			}
		}
		b.WriteByte(s[i])
	}
	return "", 0, errors.New("unclosed string")
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c == ':'
}

func isIdent(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' }

func isLabelName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := range len(s) {
		if !isIdent(s[i]) || s[i] == ':' {
			return false
		}
	}
	return true
}

// exposition is a scrape of a /metrics page in Prometheus' text format.
type exposition struct {
	// types maps each family that has a # TYPE line to its type.
	types map[string]string
	// series maps each sample's name, such as
	// herald_publish_duration_seconds_bucket, to its samples.
	series map[string][]sample
}

// sample is one line of an exposition: its labels and its value.
type sample struct {
	labels map[string]string
	value  float64
}

// errExposition wraps every error parseExposition returns.
var errExposition = errors.New("exposition")

// parseExposition reads the text format of a /metrics page. It refuses a
// line it cannot read instead of skipping it.
func parseExposition(r io.Reader) (exposition, error) {
	e := exposition{types: make(map[string]string), series: make(map[string][]sample)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fail := func(format string, args ...any) (exposition, error) {
			return exposition{}, fmt.Errorf("%w: line %d %q: %s", errExposition, n, line, fmt.Sprintf(format, args...))
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			f := strings.Fields(rest)
			if len(f) != 2 {
				return fail("want # TYPE name type")
			}
			e.types[f[0]] = f[1]
			continue
		}
		if strings.HasPrefix(line, "#") {
			continue
		}
		i := 0
		for i < len(line) && isIdent(line[i]) {
			i++
		}
		name := line[:i]
		if name == "" || !isIdentStart(name[0]) {
			return fail("no metric name")
		}
		labels := make(map[string]string)
		if i < len(line) && line[i] == '{' {
			ms, m, err := readMatchers(line[i:])
			if err != nil {
				return fail("%v", err)
			}
			for _, mt := range ms {
				if mt.op != "=" {
					return fail("label %s: want =, got %s", mt.label, mt.op)
				}
				labels[mt.label] = mt.value
			}
			i += m
		}
		f := strings.Fields(line[i:])
		if len(f) < 1 || len(f) > 2 || line[i] != ' ' {
			return fail("want a value and an optional timestamp after the name and labels")
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			return fail("value: %v", err)
		}
		e.series[name] = append(e.series[name], sample{labels, v})
	}
	if err := sc.Err(); err != nil {
		return exposition{}, fmt.Errorf("%w: %w", errExposition, err)
	}
	return e, nil
}

// family returns the metric family a sample name belongs to: name itself,
// or, for the _bucket, _sum and _count series of a histogram or summary,
// the family they come from.
func (e exposition) family(name string) string {
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		if base, ok := strings.CutSuffix(name, suffix); ok {
			if t := e.types[base]; t == "histogram" || t == "summary" {
				return base
			}
		}
	}
	return name
}

// labelValues returns the values label takes on the samples called name.
func (e exposition) labelValues(name, label string) map[string]bool {
	vals := make(map[string]bool)
	for _, s := range e.series[name] {
		if v, ok := s.labels[label]; ok {
			vals[v] = true
		}
	}
	return vals
}

// value returns the value of the sample called name whose labels include
// every label of want, and whether there is one.
func (e exposition) value(name string, want map[string]string) (float64, bool) {
next:
	for _, s := range e.series[name] {
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		return s.value, true
	}
	return 0, false
}

func TestParsePromQL(t *testing.T) {
	type sel = selector
	tests := []struct {
		name     string
		expr     string
		want     []selector
		grouping []string
	}{
		{"a bare metric", `up == 0`, []sel{{name: "up"}}, nil},
		{"matchers and a range",
			`rate(herald_publish_errors_total{job="herald", reason=~"unavailable|internal"}[5m]) > 0`,
			[]sel{{"herald_publish_errors_total", []matcher{{"job", "=", "herald"}, {"reason", "=~", "unavailable|internal"}}}}, nil},
		{"an aggregation with by before its body",
			`histogram_quantile(0.99, sum by (instance, le) (rate(herald_publish_duration_seconds_bucket[$__rate_interval])))`,
			[]sel{{name: "herald_publish_duration_seconds_bucket"}}, []string{"instance", "le"}},
		{"by after the body, and a division",
			`sum(rate(herald_gaps_total[30m])) without (pod) / on (instance) group_left (reason) sum(rate(herald_replays_total[30m]))`,
			[]sel{{name: "herald_gaps_total"}, {name: "herald_replays_total"}}, []string{"pod", "instance", "reason"}},
		{"keywords, numbers and an offset",
			`herald_subscribers offset 5m > bool 1e-3 and herald_streams_open unless Inf < NaN or 0x1f`,
			[]sel{{name: "herald_subscribers"}, {name: "herald_streams_open"}}, nil},
		{"a selector by __name__", `{__name__="herald_gaps_total", job!~"a\"b"}`,
			[]sel{{"", []matcher{{"__name__", "=", "herald_gaps_total"}, {"job", "!~", `a"b`}}}}, nil},
		{"Grafana variables in strings and ranges",
			`sum(increase(herald_slow_disconnects_total{job=~"$job", instance=~"${instance}"}[$__range]))`,
			[]sel{{"herald_slow_disconnects_total", []matcher{{"job", "=~", "$job"}, {"instance", "=~", "${instance}"}}}}, nil},
		{"a comment", "up # herald_not_a_metric\n== 0", []sel{{name: "up"}}, nil},
		{"label_replace's strings", `label_replace(up, "a", "$1", "instance", "(.*):.*")`, []sel{{name: "up"}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePromQL(tt.expr)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.want {
				if tt.want[i].name == "" { // named by __name__
					tt.want[i].name = "herald_gaps_total"
				}
			}
			if fmt.Sprint(got.selectors) != fmt.Sprint(tt.want) || fmt.Sprint(got.grouping) != fmt.Sprint(tt.grouping) {
				t.Errorf("parsePromQL(%q) = %v, grouping %v; want %v, grouping %v", tt.expr, got.selectors, got.grouping, tt.want, tt.grouping)
			}
		})
	}
}

func TestParsePromQLRefuses(t *testing.T) {
	for _, tt := range []struct{ name, expr, want string }{
		{"an unclosed string", `up{job="herald}`, "unclosed string"},
		{"an unclosed range", `rate(herald_gaps_total[5m)`, "unclosed ["},
		{"an unclosed brace", `herald_gaps_total{job="a"`, "unclosed {"},
		{"a matcher without an operator", `herald_gaps_total{job "a"}`, "no matcher operator"},
		{"a matcher without a value", `herald_gaps_total{job=}`, "no string"},
		{"a matcher without a label", `herald_gaps_total{="a"}`, "no label name"},
		{"matchers without a comma", `herald_gaps_total{a="b" c="d"}`, "want , or }"},
		{"a selector without a name", `{job="herald"}`, "without a metric name"},
		{"a Grafana variable outside a string", `up > $threshold`, "Grafana variable"},
		{"an unclosed by list", `sum by (instance up`, "unclosed ("},
		{"a by list of non-labels", `sum by (1a) (up)`, "not a label name"},
		{"a stray character", `up ; up`, "unexpected"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parsePromQL(tt.expr)
			if !errors.Is(err, errPromQL) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parsePromQL(%q) = %v, want an error saying %q", tt.expr, err, tt.want)
			}
		})
	}
}

func TestParseExposition(t *testing.T) {
	in := "# HELP herald_publish_duration_seconds Time.\n" +
		"# TYPE herald_publish_duration_seconds histogram\n" +
		"herald_publish_duration_seconds_bucket{le=\"0.5\"} 3\n" +
		"herald_publish_duration_seconds_count 3\n" +
		"herald_publish_errors_total{reason=\"in\\\"valid\",x=\"\"} 1 1700000000000\n" +
		"\n" +
		"up 1e+00\n"
	e, err := parseExposition(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if got := e.family("herald_publish_duration_seconds_bucket"); got != "herald_publish_duration_seconds" {
		t.Errorf("family of a histogram's bucket = %q", got)
	}
	if got := e.family("herald_publish_errors_total"); got != "herald_publish_errors_total" {
		t.Errorf("family of a counter = %q", got)
	}
	if v, ok := e.value("herald_publish_errors_total", map[string]string{"reason": `in"valid`}); !ok || v != 1 {
		t.Errorf("escaped label value: %v, %v", v, ok)
	}
	if v, ok := e.value("up", nil); !ok || v != 1 {
		t.Errorf("up = %v, %v", v, ok)
	}

	for _, tt := range []struct{ name, line, want string }{
		{"no value", "herald_gaps_total\n", "want a value"},
		{"a value that is no number", "herald_gaps_total one\n", "value"},
		{"too many fields", "herald_gaps_total 1 2 3\n", "want a value"},
		{"no name", "{a=\"b\"} 1\n", "no metric name"},
		{"an unclosed label set", "herald_gaps_total{a=\"b\"\n", "unclosed"},
		{"labels without a comma", "herald_gaps_total{a=\"b\" c=\"d\"} 1\n", "want , or }"},
		{"a regex in a label set", "herald_gaps_total{a=~\"b\"} 1\n", "want ="},
		{"a TYPE line without a type", "# TYPE herald_gaps_total\n", "# TYPE name type"},
		{"a value glued to the labels", "herald_gaps_total{a=\"b\"}1\n", "want a value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseExposition(strings.NewReader(tt.line))
			if !errors.Is(err, errExposition) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseExposition(%q) = %v, want an error saying %q", tt.line, err, tt.want)
			}
		})
	}
}

func FuzzParsePromQL(f *testing.F) {
	for _, s := range []string{
		`up{job="herald"} == 0`,
		`histogram_quantile(0.99, sum by (le) (rate(herald_publish_duration_seconds_bucket{job=~"$job"}[$__rate_interval])))`,
		`{__name__="x", a!~'b\'c'} offset 5m`,
		"sum without (a, b) (x) / on (c) group_left x2 # comment",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, expr string) {
		q, err := parsePromQL(expr)
		if err != nil {
			if !errors.Is(err, errPromQL) {
				t.Fatalf("error %v does not wrap errPromQL", err)
			}
			return
		}
		for _, s := range q.selectors {
			if s.name == "" {
				t.Fatalf("%q: a selector without a name: %v", expr, q.selectors)
			}
			for _, m := range s.matchers {
				if !isLabelName(m.label) {
					t.Fatalf("%q: matcher label %q", expr, m.label)
				}
			}
		}
		for _, l := range q.grouping {
			if !isLabelName(l) {
				t.Fatalf("%q: grouping label %q", expr, l)
			}
		}
	})
}

func FuzzParseExposition(f *testing.F) {
	f.Add("# TYPE a histogram\na_bucket{le=\"+Inf\"} 1\na_count 1\n")
	f.Add("b{x=\"y\\\"z\"} 2 1700000000000\n")
	f.Fuzz(func(t *testing.T, in string) {
		e, err := parseExposition(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, errExposition) {
				t.Fatalf("error %v does not wrap errExposition", err)
			}
			return
		}
		for name, samples := range e.series {
			if name == "" || !isIdentStart(name[0]) || len(samples) == 0 {
				t.Fatalf("%q: series %q with %d samples", in, name, len(samples))
			}
		}
	})
}
