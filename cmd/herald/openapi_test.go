package main

// The OpenAPI description (openapi/openapi.json) held to the real thing:
// real nodes built from serve's flags and served by serve, real requests,
// each request and answer validated against the description with
// kin-openapi, and the routes the node serves compared with the routes the
// description lists, both ways. docs/api.md explains the rules.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/openapi"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store"
	"github.com/heraldsse/herald/store/memory"
)

// pendingRoutes are routes the description lists before this tree serves
// them ("METHOD /path", no path parameters), each with why. A pending route
// that is not served is not an error, and its answers need no case; once it
// is served it is checked like any other, and its entry here should go.
var pendingRoutes = map[string]string{}

// notTriggered lists the documented answers no test case produces, each
// with why it cannot be produced against a real node here. Every other
// documented answer must be produced, and validated, by a case.
var notTriggered = map[string]string{
	"GET /events 500":                  "the hub's unclassified failure: no store herald ships fails that way",
	"GET /.well-known/mercure 500":     "the hub's unclassified failure: no store herald ships fails that way",
	"POST /.well-known/mercure 500":    "the hub's unclassified failure: no store herald ships fails that way",
	"POST /events 500":                 "the hub's unclassified failure: no store herald ships fails that way",
	"GET /task-progress/{task_id} 500": "a history read that fails while the hub is open: the memory store does not fail",
	"GET /task-events 500":             "a subscription that fails while the hub is open: the memory store does not fail",
	"GET /metrics/history 500":         "a subscription that fails while the hub is open: the memory store does not fail",
	"GET /reconnect/stream 500":        "a subscription that fails while the hub is open: the memory store does not fail",
	"DELETE /tasks/{id} 500":           "the task runner failing to cancel a task it holds: it cannot",
}

// probeMethods are the methods tried on every served path, to find which a
// path answers: every one but those that answer 405. QUERY is the safe
// method with a body that Mercure subscribes with.
var probeMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions, http.MethodTrace, "QUERY"}

// spec is the description, loaded and validated, and a router that finds
// the operation a request is for.
type spec struct {
	doc    *openapi3.T
	router routers.Router
}

func loadSpec(t *testing.T) *spec {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document())
	if err != nil {
		t.Fatalf("load openapi/openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context); err != nil {
		t.Fatalf("openapi/openapi.json is not a valid OpenAPI document: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatalf("router: %v", err)
	}
	return &spec{doc: doc, router: router}
}

// authenticate checks, for the validator, that a request carries the
// credential a security scheme names, where the server looks for it.
func authenticate(_ context.Context, in *openapi3filter.AuthenticationInput) error {
	r := in.RequestValidationInput.Request
	switch in.SecuritySchemeName {
	case "bearerAuth":
		if scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") && tok != "" {
			return nil
		}
	case "accessToken":
		if r.URL.Query().Get("access_token") != "" {
			return nil
		}
	case "cookieAuth":
		if c, err := r.Cookie(server.DefaultAuthCookie); err == nil && c.Value != "" {
			return nil
		}
	case "mercureCookie":
		if c, err := r.Cookie(mercure.DefaultCookieName); err == nil && c.Value != "" {
			return nil
		}
	default:
		return fmt.Errorf("unknown security scheme %q", in.SecuritySchemeName)
	}
	return fmt.Errorf("no %s credential", in.SecuritySchemeName)
}

var validation = &openapi3filter.Options{AuthenticationFunc: authenticate, IncludeResponseStatus: true}

// apiCase is one request to a node, and what it must get.
type apiCase struct {
	name    string
	node    *servedNode
	method  string
	target  string // path and query
	header  http.Header
	ctype   string
	body    string
	status  int
	invalid bool // the request breaks the description: validating it must fail
	// For a 200 event stream: read events until one of type until (or the
	// stream's end when until is ""), at most max of them, and check each
	// against the events the description lists.
	until string
	max   int
	// dataSchema, when set, names the schema the data of every message
	// event must also match: the data of a topic's events, which the
	// description gives in components.
	dataSchema string
	check      func(t *testing.T, resp *http.Response, body []byte, events []sse.Event)
}

// coverage records which documented answers the cases produced.
type coverage map[string]bool

// run sends c, validating the request before and the answer after, and
// records the answer in cov.
func (s *spec) run(t *testing.T, c apiCase, cov coverage) {
	t.Helper()
	req := newRequest(t, t.Context(), c.method, c.node.url+c.target, c.header, c.ctype, c.body)
	route, params, err := s.router.FindRoute(req)
	if err != nil {
		t.Fatalf("%s %s: no operation in openapi.json: %v", c.method, c.target, err)
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: validation}
	err = openapi3filter.ValidateRequest(t.Context(), in)
	switch {
	case c.invalid && err == nil:
		t.Errorf("%s %s: the description accepts this request; the case says it breaks it", c.method, c.target)
	case !c.invalid && err != nil:
		t.Errorf("%s %s: the request breaks the description: %v", c.method, c.target, err)
	}

	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	send := newRequest(t, ctx, c.method, c.node.url+c.target, c.header, c.ctype, c.body)
	resp, err := http.DefaultClient.Do(send)
	if err != nil {
		t.Fatalf("%s %s: %v", c.method, c.target, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != c.status {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		t.Fatalf("%s %s = %d %s, want %d", c.method, c.target, resp.StatusCode, b, c.status)
	}
	cov[route.Method+" "+route.Path+" "+fmt.Sprint(resp.StatusCode)] = true
	if want := c.header.Get("X-Request-Id"); resp.Header.Get("X-Request-Id") == "" || want != "" && resp.Header.Get("X-Request-Id") != want {
		t.Errorf("%s %s: X-Request-ID %q; openapi.json says every answer has one, the request's own when sane (%q)", c.method, c.target, resp.Header.Get("X-Request-Id"), want)
	}

	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode, Header: resp.Header, Options: validation}
	var body []byte
	var events []sse.Event
	if isStream(resp) && c.method != http.MethodHead {
		// The body never ends by itself: the headers are validated here,
		// the events one by one below.
		opts := *validation
		opts.ExcludeResponseBody = true
		out.Options = &opts
		out.SetBodyBytes(nil)
		if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
			t.Errorf("%s %s: the answer breaks the description: %v", c.method, c.target, err)
		}
		events = s.readEvents(t, route, resp, c)
	} else {
		if body, err = io.ReadAll(resp.Body); err != nil {
			t.Fatalf("%s %s: read the body: %v", c.method, c.target, err)
		}
		out.SetBodyBytes(body)
		if err := openapi3filter.ValidateResponse(t.Context(), out); err != nil {
			t.Errorf("%s %s: the answer breaks the description: %v", c.method, c.target, err)
		}
	}
	switch {
	case resp.StatusCode < 400 || c.method == http.MethodHead:
	case isMercurePath(route.Path):
		checkMercureErrorBody(t, c.method+" "+c.target, resp, body)
	default:
		checkErrorBody(t, c.method+" "+c.target, resp, body)
	}
	if c.check != nil {
		c.check(t, resp, body, events)
	}
}

func isStream(resp *http.Response) bool {
	return strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream")
}

// checkErrorBody checks herald's error answer: JSON, {"error": "..."}, one
// field.
func checkErrorBody(t *testing.T, what string, resp *http.Response, body []byte) {
	t.Helper()
	var e map[string]any
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" || json.Unmarshal(body, &e) != nil || len(e) != 1 || e["error"] == "" {
		t.Errorf("%s = %d %q %s; want herald's JSON error", what, resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
}

// newRequest builds a request; body is sent as is with Content-Type ctype.
func newRequest(t *testing.T, ctx context.Context, method, target string, header http.Header, ctype, body string) *http.Request {
	t.Helper()
	var r io.Reader = http.NoBody
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, r)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = slices.Clone(v)
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return req
}

// streamEvent is what the description's x-herald-events says of one event
// type.
type streamEvent struct {
	ID         string          `json:"id"`
	DataFormat string          `json:"dataFormat"`
	Data       json.RawMessage `json:"data"`
	schema     *openapi3.Schema
}

// streamEvents returns the events the description lists for the event
// stream of route's 200 answer, by type.
func (s *spec) streamEvents(t *testing.T, route *routers.Route) map[string]*streamEvent {
	t.Helper()
	resp := route.Operation.Responses.Status(http.StatusOK)
	if resp == nil || resp.Value.Content.Get("text/event-stream") == nil {
		t.Fatalf("%s %s: openapi.json describes no event stream", route.Method, route.Path)
	}
	raw, _ := json.Marshal(resp.Value.Content.Get("text/event-stream").Extensions["x-herald-events"])
	var events map[string]*streamEvent
	if err := json.Unmarshal(raw, &events); err != nil || len(events) == 0 {
		t.Fatalf("%s %s: x-herald-events %s: %v", route.Method, route.Path, raw, err)
	}
	for typ, ev := range events {
		ev.schema = s.schema(t, ev.Data)
		if ev.schema == nil {
			t.Fatalf("%s %s: event %q: data %s is not a schema", route.Method, route.Path, typ, ev.Data)
		}
	}
	return events
}

// schema returns the schema raw is, resolving a reference to one of the
// document's schemas.
func (s *spec) schema(t *testing.T, raw json.RawMessage) *openapi3.Schema {
	t.Helper()
	var ref struct {
		Ref string `json:"$ref"`
	}
	if json.Unmarshal(raw, &ref) == nil && ref.Ref != "" {
		name, _ := strings.CutPrefix(ref.Ref, "#/components/schemas/")
		if sr := s.doc.Components.Schemas[name]; sr != nil {
			return sr.Value
		}
		return nil
	}
	var sc openapi3.Schema
	if err := json.Unmarshal(raw, &sc); err != nil {
		return nil
	}
	return &sc
}

// readEvents reads c's events from resp and checks each against route's
// description: its type is listed, it has an ID exactly when it must, and
// its data matches the listed schema (and c.dataSchema for messages).
func (s *spec) readEvents(t *testing.T, route *routers.Route, resp *http.Response, c apiCase) []sse.Event {
	t.Helper()
	listed := s.streamEvents(t, route)
	var extra *openapi3.Schema
	if c.dataSchema != "" {
		if extra = s.schema(t, json.RawMessage(`{"$ref":"#/components/schemas/`+c.dataSchema+`"}`)); extra == nil {
			t.Fatalf("no schema %q in openapi.json", c.dataSchema)
		}
	}
	dec := sse.NewDecoder(resp.Body)
	var events []sse.Event
	lastID := ""
	for len(events) < c.max {
		ev, err := dec.Next()
		if err != nil {
			if c.until != "" || !errors.Is(err, io.EOF) {
				t.Errorf("%s %s: after %d events: %v", c.method, c.target, len(events), err)
			}
			break
		}
		events = append(events, ev)
		typ := cmpOr(ev.Type, "message")
		spec := listed[typ]
		if spec == nil {
			spec = listed["*"]
		}
		if spec == nil || strings.HasPrefix(typ, "herald:") && listed[typ] == nil {
			t.Errorf("%s %s: event of type %q, which openapi.json does not list for this stream", c.method, c.target, typ)
			continue
		}
		hasID := ev.ID != lastID
		if hasID != (spec.ID == "required") || spec.ID == "required" && ev.ID == "" {
			t.Errorf("%s %s: event %q: id %q after %q; openapi.json says its id is %s", c.method, c.target, typ, ev.ID, lastID, spec.ID)
		}
		lastID = ev.ID
		value, err := eventData(ev, spec.DataFormat)
		if err == nil {
			err = spec.schema.VisitJSON(value, openapi3.EnableJSONSchema2020())
		}
		if err == nil && extra != nil && typ != "herald:gap" && typ != "herald:replayed" {
			if value, err = eventData(ev, "json"); err == nil {
				err = extra.VisitJSON(value, openapi3.EnableJSONSchema2020())
			}
		}
		if err != nil {
			t.Errorf("%s %s: event %q data %q breaks openapi.json: %v", c.method, c.target, typ, ev.Data, err)
		}
		if typ == c.until {
			break
		}
	}
	if c.until != "" && (len(events) == 0 || cmpOr(events[len(events)-1].Type, "message") != c.until) {
		t.Errorf("%s %s: read %d events without one of type %q", c.method, c.target, len(events), c.until)
	}
	return events
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// eventData returns ev's data as the validator reads it: parsed JSON, or
// the text.
func eventData(ev sse.Event, format string) (any, error) {
	if format == "text" {
		return ev.Data, nil
	}
	var v any
	if err := json.Unmarshal([]byte(ev.Data), &v); err != nil {
		return nil, fmt.Errorf("data is not JSON: %w", err)
	}
	return v, nil
}

// busyLog is a memory log that pushes back on every append, as a log does
// when dispatch is behind (store.ErrBusy).
type busyLog struct{ *memory.Log }

func (busyLog) Append(ctx context.Context, e store.Entry) (store.Entry, error) {
	return store.Entry{}, fmt.Errorf("busy log: append to %q: %w", e.Topic, store.ErrBusy)
}

const testAuthSecret = "openapi-test-secret-0123456789abcdef"

// token mints a herald token with the test secret.
func token(t *testing.T, publish, subscribe []string, exp time.Time) string {
	t.Helper()
	claims := server.Claims{Herald: server.Scope{Publish: publish, Subscribe: subscribe}}
	claims.ExpiresAt = jwt.NewNumericDate(exp)
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString([]byte(testAuthSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// call sends a request outside the cases, for their fixtures, and returns
// the status and the decoded JSON body.
func call(t *testing.T, method, target, ctype, body string, header http.Header) (int, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(newRequest(t, t.Context(), method, target, header, ctype, body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// startTask starts a task on n and returns its ID.
func startTask(t *testing.T, n *servedNode) string {
	t.Helper()
	status, out := call(t, http.MethodPost, n.url+"/start-task", "", "", nil)
	id, ok := out["task_id"].(string)
	if status != http.StatusOK || !ok {
		t.Fatalf("POST /start-task = %d %v, want 200 and a task_id", status, out)
	}
	return id
}

// openStream opens an event stream the test holds until it ends (or for
// 30 s at most), and returns its decoder.
func openStream(t *testing.T, target string, header http.Header) *sse.Decoder {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	resp, err := http.DefaultClient.Do(newRequest(t, ctx, http.MethodGet, target, header, "", ""))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || !isStream(resp) {
		t.Fatalf("GET %s = %d %s, want an event stream", target, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return sse.NewDecoder(resp.Body)
}

// fast are serve's flags that make the apps' streams and tasks quick.
var fast = []string{"--stream-interval", "10ms", "--advanced-interval", "10ms", "--id-interval", "10ms", "--task-step", "10ms"}

// TestOpenAPIRequests sends real requests for every route and every answer
// that can be produced against real nodes built from serve's flags, and
// validates each request and answer against openapi/openapi.json; then
// checks that every documented answer was produced, or is listed in
// notTriggered with why.
//
// Bad inputs tried, each with the status the description gives: no topic,
// a malformed pattern, a wildcard topic to publish on, a reserved or
// multi-line type, a negative retry, malformed JSON, an unknown field,
// unsupported and unparsable media types, bodies and data over the limits,
// too many topics, a body on GET, no token, an expired token, a Basic
// Authorization header, a token without the topic, too many streams,
// unknown and malformed task IDs, too many tasks, an unknown app page and
// static file, an invalid chat room, user, limit and client, an unlisted
// CORS origin, and every route of a node that is shutting down.
func TestOpenAPIRequests(t *testing.T) {
	s := loadSpec(t)
	def := startServe(t, append([]string{"--cors-origins", "http://allowed.example"}, fast...)...)
	auth := startServe(t, "--auth-secret", testAuthSecret, "--anonymous-subscribe", "public/*")
	limits := startServe(t, "--max-subscribers-per-client", "1", "--max-body", "96", "--max-data", "64", "--max-tasks", "1", "--task-step", "1h")
	busy := startServeOn(t, busyLog{memory.New(memory.Options{})}, "--max-topics", "2")
	closed := startServe(t, fast...)
	closeNode(t, closed)
	noPresence := startServe(t, "--presence=false")

	// Fixtures: events to resume after, a finished task, a running one,
	// tokens, the description's ETag.
	var ids []string
	for i := range 3 {
		status, out := call(t, http.MethodPost, def.url+"/events", "application/json", fmt.Sprintf(`{"topic":"news/lobby","data":"%d"}`, i), nil)
		if status != http.StatusCreated {
			t.Fatalf("publish fixture = %d %v", status, out)
		}
		ids = append(ids, out["id"].(string))
	}
	done := startTask(t, def)
	progress := openStream(t, def.url+"/task-progress/"+done, nil)
	var finalID string
	for {
		ev, err := progress.Next()
		if err != nil {
			t.Fatalf("following task %s: %v", done, err)
		}
		if strings.Contains(ev.Data, `"completed"`) {
			finalID = ev.ID
			break
		}
	}
	openStream(t, def.url+"/events?topic=present/one&payload=%7B%22user%22%3A%22ada%22%7D", nil) // its join is in the history
	running := startTask(t, limits)
	openStream(t, limits.url+"/events?topic=held", nil) // limits' one stream for this client
	dropped := openStream(t, def.url+"/reconnect/stream?client=drop-me", nil)
	resp, err := http.Get(def.url + openapi.Path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	etag := resp.Header.Get("ETag")
	resp, err = http.Get(def.url + "/herald.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	jsTag := resp.Header.Get("ETag") // none while herald.js is pending
	chat := token(t, []string{"chat/*"}, []string{"chat/*"}, time.Now().Add(time.Hour))
	expired := token(t, []string{"chat/*"}, []string{"chat/*"}, time.Now().Add(-time.Minute))
	authed := func(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
	var form bytes.Buffer
	mw := multipart.NewWriter(&form)
	for _, f := range [][2]string{{"topic", "news/lobby"}, {"type", "note"}, {"data", "from a multipart form"}, {"retry", "1500"}} {
		if err := mw.WriteField(f[0], f[1]); err != nil {
			t.Fatal(err)
		}
	}
	mw.Close()
	manyTasks := "task=" + strings.Repeat("A&task=", 32) + "A"
	json1 := "application/json"

	cases := []apiCase{
		// The hub: subscribe.
		{name: "subscribe and resume", node: def, method: "GET", target: "/events?topic=news/*", header: http.Header{"Last-Event-Id": {ids[0]}}, status: 200, until: "herald:replayed", max: 10,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) != 3 || evs[0].ID != ids[1] || evs[1].ID != ids[2] || evs[2].Data != `{"count":2}` {
					t.Errorf("resume after %s = %+v; want %s, %s, herald:replayed {\"count\":2}", ids[0], evs, ids[1], ids[2])
				}
			}},
		{name: "subscribe resuming with lastEventId after an unknown ID", node: def, method: "GET", target: "/events?topic=news/lobby&lastEventId=1-1", status: 200, until: "herald:replayed", max: 10,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) == 0 || evs[0].Type != "herald:gap" {
					t.Errorf("resume after an unknown ID = %+v; want herald:gap first", evs)
				}
			}},
		{name: "subscribe from the start", node: def, method: "GET", target: "/events?topic=news/*&from=start", status: 200, until: "herald:replayed", max: 10,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) < 4 || evs[0].ID != ids[0] || evs[len(evs)-1].Type != "herald:replayed" {
					t.Errorf("subscribe from the start = %+v; want the history from %s, then herald:replayed", evs, ids[0])
				}
			}},
		{name: "subscribe from anything but the start", node: def, method: "GET", target: "/events?topic=news/*&from=end", status: 400, invalid: true},
		{name: "subscribe to the metrics samples", node: def, method: "GET", target: "/events?topic=system/metrics", status: 200, max: 1, dataSchema: "MetricsSample"},
		{name: "subscribe to a stock", node: def, method: "GET", target: "/events?topic=stocks/AAPL&topic=stocks/MSFT", status: 200, max: 2, dataSchema: "StockTick"},
		{name: "subscribe without a topic", node: def, method: "GET", target: "/events", status: 400, invalid: true},
		{name: "subscribe with a malformed pattern", node: def, method: "GET", target: "/events?topic=a//b", status: 400, invalid: true},
		{name: "subscribe with a body", node: def, method: "GET", target: "/events?topic=a", ctype: "text/plain", body: "x", status: 400},
		{name: "subscribe to more topics than --max-topics", node: busy, method: "GET", target: "/events?topic=a&topic=b&topic=c", status: 400},
		{name: "subscribe beyond --max-subscribers-per-client", node: limits, method: "GET", target: "/events?topic=a", status: 429},
		{name: "subscribe while shutting down", node: closed, method: "GET", target: "/events?topic=a", status: 503},
		{name: "HEAD subscribe", node: def, method: "HEAD", target: "/events?topic=chat/*", status: 200},
		{name: "HEAD without a topic", node: def, method: "HEAD", target: "/events", status: 400, invalid: true},
		{name: "HEAD beyond the limit", node: limits, method: "HEAD", target: "/events?topic=a", status: 429},
		{name: "HEAD while shutting down", node: closed, method: "HEAD", target: "/events?topic=a", status: 503},

		// The hub: publish.
		{name: "publish JSON", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"news/lobby","type":"note","data":{"text":"hi"},"retry":2000}`, status: 201},
		{name: "publish a batch", node: def, method: "POST", target: "/events", ctype: json1, body: `[{"topic":"news/lobby","data":"one"},{"topic":"news/other","data":{"n":2}}]`, status: 201,
			check: func(t *testing.T, _ *http.Response, body []byte, _ []sse.Event) {
				var out struct{ IDs []string }
				if err := json.Unmarshal(body, &out); err != nil || len(out.IDs) != 2 {
					t.Errorf("a batch of 2 answered %s (%v); want 2 IDs", body, err)
				}
			}},
		{name: "publish an empty batch", node: def, method: "POST", target: "/events", ctype: json1, body: `[]`, status: 400, invalid: true},
		{name: "publish a batch with an event without a topic", node: def, method: "POST", target: "/events", ctype: json1, body: `[{"topic":"news/lobby"},{"data":"x"}]`, status: 400, invalid: true},
		{name: "publish a URL-encoded form", node: def, method: "POST", target: "/events", ctype: "application/x-www-form-urlencoded", body: "topic=news%2Flobby&data=hi&retry=1000", status: 201},
		{name: "publish a multipart form", node: def, method: "POST", target: "/events", ctype: mw.FormDataContentType(), body: form.String(), status: 201},
		{name: "publish malformed JSON", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":`, status: 400, invalid: true},
		{name: "publish with an unknown field", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","colour":"red"}`, status: 400, invalid: true},
		{name: "publish on a wildcard", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"chat/*","data":"x"}`, status: 400, invalid: true},
		{name: "publish a reserved type", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","type":"herald:gap"}`, status: 400, invalid: true},
		{name: "publish a multi-line type", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","type":"a\nb"}`, status: 400, invalid: true},
		{name: "publish a negative retry", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","retry":-1}`, status: 400, invalid: true},
		{name: "publish without a topic in a form", node: def, method: "POST", target: "/events", ctype: "application/x-www-form-urlencoded", body: "data=x", status: 400, invalid: true},
		{name: "publish text/plain", node: def, method: "POST", target: "/events", ctype: "text/plain", body: "hi", status: 415, invalid: true},
		{name: "publish an unparsable Content-Type", node: def, method: "POST", target: "/events", ctype: "application/", body: "hi", status: 415, invalid: true},
		{name: "publish a body over --max-body", node: limits, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","data":"` + strings.Repeat("x", 100) + `"}`, status: 413},
		{name: "publish data over --max-data", node: limits, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","data":"` + strings.Repeat("x", 70) + `"}`, status: 413},
		{name: "publish to a busy log", node: busy, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a","data":"x"}`, status: 503,
			check: func(t *testing.T, resp *http.Response, _ []byte, _ []sse.Event) {
				if resp.Header.Get("Retry-After") != "1" {
					t.Errorf("busy publish: Retry-After = %q, want 1", resp.Header.Get("Retry-After"))
				}
			}},
		{name: "publish while shutting down", node: closed, method: "POST", target: "/events", ctype: json1, body: `{"topic":"a"}`, status: 503},
		{name: "OPTIONS", node: def, method: "OPTIONS", target: "/events", status: 204},
		{name: "CORS preflight from a listed origin", node: def, method: "OPTIONS", target: "/events", header: http.Header{"Origin": {"http://allowed.example"}, "Access-Control-Request-Method": {"POST"}}, status: 204,
			check: func(t *testing.T, resp *http.Response, _ []byte, _ []sse.Event) {
				if resp.Header.Get("Access-Control-Allow-Origin") != "http://allowed.example" {
					t.Errorf("preflight: Access-Control-Allow-Origin = %q", resp.Header.Get("Access-Control-Allow-Origin"))
				}
			}},
		{name: "CORS preflight from an unlisted origin", node: def, method: "OPTIONS", target: "/events", header: http.Header{"Origin": {"http://evil.example"}, "Access-Control-Request-Method": {"POST"}}, status: 403},

		// Presence.
		{name: "presence: list", node: def, method: "GET", target: "/presence?topic=present/*&limit=10", status: 200,
			check: func(t *testing.T, _ *http.Response, body []byte, _ []sse.Event) {
				if !strings.Contains(string(body), `"count":1,`) || !strings.Contains(string(body), `"payload":{"user":"ada"}`) {
					t.Errorf("GET /presence?topic=present/* = %s; want the one subscriber, with its payload", body)
				}
			}},
		{name: "presence: a join, replayed", node: def, method: "GET", target: "/events?topic=presence/present/*", header: http.Header{"Last-Event-Id": {ids[0]}}, status: 200, until: "herald:replayed", max: 10,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) != 2 || evs[0].Type != "herald:join" {
					t.Errorf("presence events of present/* = %+v; want one herald:join, then herald:replayed", evs)
				}
			}},
		{name: "presence: no topic", node: def, method: "GET", target: "/presence", status: 400, invalid: true},
		{name: "presence: limit 0", node: def, method: "GET", target: "/presence?topic=a&limit=0", status: 400, invalid: true},
		{name: "presence: a double-encoded topic", node: def, method: "GET", target: "/presence?topic=chat%252Flobby", status: 400},
		{name: "presence: a presence/ topic", node: def, method: "GET", target: "/presence?topic=presence/a", status: 400},
		{name: "presence: off", node: noPresence, method: "GET", target: "/presence?topic=a", status: 404},
		{name: "presence: shutting down", node: closed, method: "GET", target: "/presence?topic=a", status: 503},
		{name: "presence: without a token", node: auth, method: "GET", target: "/presence?topic=chat/lobby", status: 401},
		{name: "presence: beyond the token", node: auth, method: "GET", target: "/presence?topic=chat/lobby", header: authed(chat), status: 403},
		{name: "subscribe with a payload that is not JSON", node: def, method: "GET", target: "/events?topic=a&payload=ada", status: 400},
		{name: "publish on a presence/ topic", node: def, method: "POST", target: "/events", ctype: json1, body: `{"topic":"presence/a","data":"x"}`, status: 400},

		// The hub with auth on.
		{name: "auth: subscribe without a token", node: auth, method: "GET", target: "/events?topic=chat/lobby", status: 401},
		{name: "auth: subscribe anonymously to --anonymous-subscribe", node: auth, method: "GET", target: "/events?topic=public/news", status: 200, max: 0},
		{name: "auth: subscribe with a bearer token", node: auth, method: "GET", target: "/events?topic=chat/lobby", header: authed(chat), status: 200, max: 0},
		{name: "auth: subscribe with access_token", node: auth, method: "GET", target: "/events?topic=chat/lobby&access_token=" + chat, status: 200, max: 0},
		{name: "auth: subscribe with the cookie", node: auth, method: "GET", target: "/events?topic=chat/lobby", header: http.Header{"Cookie": {"herald_token=" + chat}}, status: 200, max: 0},
		{name: "auth: subscribe with an expired token", node: auth, method: "GET", target: "/events?topic=chat/lobby", header: authed(expired), status: 401},
		{name: "auth: subscribe with Basic credentials", node: auth, method: "GET", target: "/events?topic=chat/lobby", header: http.Header{"Authorization": {"Basic YTpi"}}, status: 401},
		{name: "auth: subscribe beyond the token", node: auth, method: "GET", target: "/events?topic=admin/x", header: authed(chat), status: 403},
		{name: "auth: HEAD without a token", node: auth, method: "HEAD", target: "/events?topic=chat/lobby", status: 401},
		{name: "auth: HEAD beyond the token", node: auth, method: "HEAD", target: "/events?topic=admin/x", header: authed(chat), status: 403},
		{name: "auth: publish with a token", node: auth, method: "POST", target: "/events", header: authed(chat), ctype: json1, body: `{"topic":"chat/lobby","data":"hi"}`, status: 201},
		{name: "auth: publish without a token", node: auth, method: "POST", target: "/events", ctype: json1, body: `{"topic":"chat/lobby","data":"hi"}`, status: 401},
		{name: "auth: publish beyond the token", node: auth, method: "POST", target: "/events", header: authed(chat), ctype: json1, body: `{"topic":"admin/x","data":"hi"}`, status: 403},

		// Operations and documents.
		{name: "healthz", node: def, method: "GET", target: "/healthz", header: http.Header{"X-Request-Id": {"probe-1.a_b"}}, status: 200},
		{name: "readyz", node: def, method: "GET", target: "/readyz", status: 200},
		{name: "readyz while shutting down", node: closed, method: "GET", target: "/readyz", status: 503},
		{name: "metrics", node: def, method: "GET", target: "/metrics", status: 200},
		{name: "the description", node: def, method: "GET", target: openapi.Path, status: 200},
		{name: "the description, not modified", node: def, method: "GET", target: openapi.Path, header: http.Header{"If-None-Match": {etag}}, status: 304},
		{name: "herald.js", node: def, method: "GET", target: "/herald.js", status: 200},
		{name: "herald.js, not modified", node: def, method: "GET", target: "/herald.js", header: http.Header{"If-None-Match": {jsTag}}, status: 304},

		// The tutorial.
		{name: "the counter", node: def, method: "GET", target: "/stream", status: 200, max: 2},
		{name: "the counter while shutting down", node: closed, method: "GET", target: "/stream", status: 503},
		{name: "named events", node: def, method: "GET", target: "/advanced-stream", status: 200, max: 3},
		{name: "named events while shutting down", node: closed, method: "GET", target: "/advanced-stream", status: 503},
		{name: "numbered events resumed", node: def, method: "GET", target: "/stream-with-id", header: http.Header{"Last-Event-Id": {"5"}}, status: 200, max: 2,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) != 2 || evs[0].ID != "6" {
					t.Errorf("resume after 5 = %+v, want 6 first", evs)
				}
			}},
		{name: "numbered events while shutting down", node: closed, method: "GET", target: "/stream-with-id", status: 503},
		{name: "start a task", node: def, method: "POST", target: "/start-task", status: 200},
		{name: "start a task beyond --max-tasks", node: limits, method: "POST", target: "/start-task", status: 503},
		{name: "start a task while shutting down", node: closed, method: "POST", target: "/start-task", status: 503},
		{name: "a task's progress", node: def, method: "GET", target: "/task-progress/" + done, status: 200, max: 20},
		{name: "a task's progress after its final state", node: def, method: "GET", target: "/task-progress/" + done, header: http.Header{"Last-Event-Id": {finalID}}, status: 204},
		{name: "an unknown task's progress", node: def, method: "GET", target: "/task-progress/NOSUCHTASK", status: 404},
		{name: "a malformed task ID's progress", node: def, method: "GET", target: "/task-progress/not-a-task", status: 404, invalid: true},
		{name: "a task's progress while shutting down", node: closed, method: "GET", target: "/task-progress/NOSUCHTASK", status: 503},

		// The exercises.
		{name: "cancel a running task", node: limits, method: "DELETE", target: "/tasks/" + running, status: 202},
		{name: "cancel a finished task", node: def, method: "DELETE", target: "/tasks/" + done, status: 404},
		{name: "the task board's stream", node: def, method: "GET", target: "/task-events?task=" + done + "&task=NOSUCHTASK", status: 200, until: "unknown", max: 30,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if last := evs[len(evs)-1]; last.Data != `{"tasks":["NOSUCHTASK"]}` {
					t.Errorf("task board: unknown = %q, want NOSUCHTASK listed", last.Data)
				}
			}},
		{name: "the task board without a task", node: def, method: "GET", target: "/task-events", status: 400, invalid: true},
		{name: "the task board with 33 tasks", node: def, method: "GET", target: "/task-events?" + manyTasks, status: 400, invalid: true},
		{name: "the task board with a malformed task ID", node: def, method: "GET", target: "/task-events?task=a-b", status: 400, invalid: true},
		{name: "the task board while shutting down", node: closed, method: "GET", target: "/task-events?task=A", status: 503},
		{name: "post a chat message", node: def, method: "POST", target: "/chat/messages", ctype: json1, body: `{"room":"lobby","user":"ada","text":"hello"}`, status: 201},
		{name: "follow the chat", node: def, method: "GET", target: "/events?topic=chat/*&lastEventId=" + url.QueryEscape(ids[2]), status: 200, until: "herald:replayed", max: 3, dataSchema: "ChatMessage",
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if len(evs) != 2 || !strings.Contains(evs[0].Data, `"hello"`) {
					t.Errorf("the chat after %s = %+v; want the message posted, then herald:replayed", ids[2], evs)
				}
			}},
		{name: "post to an invalid room", node: def, method: "POST", target: "/chat/messages", ctype: json1, body: `{"room":"Lobby!","user":"ada","text":"hi"}`, status: 400, invalid: true},
		{name: "post a blank user", node: def, method: "POST", target: "/chat/messages", ctype: json1, body: `{"room":"lobby","user":"  ","text":"hi"}`, status: 400},
		{name: "post a chat message over 8 KiB", node: def, method: "POST", target: "/chat/messages", ctype: json1, body: `{"room":"lobby","user":"ada","text":"` + strings.Repeat("x", 9000) + `"}`, status: 413},
		{name: "post a chat message as text", node: def, method: "POST", target: "/chat/messages", ctype: "text/plain", body: "hi", status: 415, invalid: true},
		{name: "post a chat message while shutting down", node: closed, method: "POST", target: "/chat/messages", ctype: json1, body: `{"room":"lobby","user":"ada","text":"hi"}`, status: 503},
		{name: "a room's history", node: def, method: "GET", target: "/chat/history?room=lobby", status: 200,
			check: func(t *testing.T, _ *http.Response, body []byte, _ []sse.Event) {
				if !strings.Contains(string(body), `"hello"`) {
					t.Errorf("chat history %s lacks the message posted", body)
				}
			}},
		{name: "a history without a room", node: def, method: "GET", target: "/chat/history", status: 400, invalid: true},
		{name: "a history of an invalid room", node: def, method: "GET", target: "/chat/history?room=Lobby!", status: 400, invalid: true},
		{name: "a history while shutting down", node: closed, method: "GET", target: "/chat/history?room=lobby", status: 503},
		{name: "the metrics history", node: def, method: "GET", target: "/metrics/history?limit=5", status: 200},
		{name: "the metrics history with limit 0", node: def, method: "GET", target: "/metrics/history?limit=0", status: 400, invalid: true},
		{name: "the metrics history with limit x", node: def, method: "GET", target: "/metrics/history?limit=x", status: 400, invalid: true},
		{name: "the metrics history while shutting down", node: closed, method: "GET", target: "/metrics/history", status: 503},
		{name: "the stock symbols", node: def, method: "GET", target: "/stocks/symbols", status: 200},
		{name: "the reconnection demo's stream", node: def, method: "GET", target: "/reconnect/stream?client=page-1", status: 200, max: 2},
		{name: "the reconnection demo resumed after an unknown ID", node: def, method: "GET", target: "/reconnect/stream?client=page-2&lastEventId=1-1", status: 200, until: "herald:replayed", max: 30,
			check: func(t *testing.T, _ *http.Response, _ []byte, evs []sse.Event) {
				if evs[0].Type != "herald:gap" {
					t.Errorf("the reconnection demo after an unknown ID = %+v; want herald:gap first", evs)
				}
			}},
		{name: "the reconnection demo without a client", node: def, method: "GET", target: "/reconnect/stream", status: 400, invalid: true},
		{name: "the reconnection demo while shutting down", node: closed, method: "GET", target: "/reconnect/stream?client=page-1", status: 503},
		{name: "drop a page's streams", node: def, method: "POST", target: "/reconnect/drop?client=drop-me", status: 200},
		{name: "drop a page without streams", node: def, method: "POST", target: "/reconnect/drop?client=nobody", status: 404},
		{name: "drop with an invalid client", node: def, method: "POST", target: "/reconnect/drop?client=a%20b", status: 400, invalid: true},

		// The pages.
		{name: "the index", node: def, method: "GET", target: "/", status: 200},
		{name: "an app's page", node: def, method: "GET", target: "/apps/task-monitor", status: 200},
		{name: "an unknown app's page", node: def, method: "GET", target: "/apps/nope", status: 404, invalid: true},
		{name: "a style sheet", node: def, method: "GET", target: "/static/style.css", status: 200},
		{name: "a script", node: def, method: "GET", target: "/static/counter.js", status: 200},
		{name: "the icon", node: def, method: "GET", target: "/static/favicon.svg", status: 200},
		{name: "an unknown static file", node: def, method: "GET", target: "/static/nope.css", status: 404},
	}
	cases = append(cases, mercureCases(t, def)...)

	pending := map[string]bool{} // the pending routes not served yet
	for key := range pendingRoutes {
		method, path, _ := strings.Cut(key, " ")
		pending[key] = !serves(t, def, method, path)
	}
	cov := coverage{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			route, _, err := s.router.FindRoute(newRequest(t, t.Context(), c.method, c.node.url+c.target, nil, "", ""))
			if err == nil && pending[route.Method+" "+route.Path] {
				t.Skipf("%s %s is not served yet: %s", route.Method, route.Path, pendingRoutes[route.Method+" "+route.Path])
			}
			s.run(t, c, cov)
		})
	}

	// The dropped stream ended with its error event.
	for cov["POST /reconnect/drop 200"] {
		ev, err := dropped.Next()
		if err != nil {
			t.Errorf("the dropped stream ended without an error event: %v", err)
			break
		}
		if ev.Type == "error" {
			break
		}
	}

	// Every documented answer was produced, or cannot be.
	for _, key := range documentedAnswers(s) {
		why, excused := notTriggered[key]
		if route := key[:strings.LastIndexByte(key, ' ')]; pending[route] {
			continue
		}
		switch {
		case cov[key] && excused:
			t.Errorf("%s is produced by a case: remove it from notTriggered (%s)", key, why)
		case !cov[key] && !excused:
			t.Errorf("%s is documented but no case produces it: add a case, or list it in notTriggered with why", key)
		}
	}
	documented := map[string]bool{}
	for _, key := range documentedAnswers(s) {
		documented[key] = true
	}
	for key := range notTriggered {
		if !documented[key] {
			t.Errorf("notTriggered lists %q, which openapi.json does not document", key)
		}
	}
}

// documentedAnswers returns "METHOD /path STATUS" for every answer the
// description documents.
func documentedAnswers(s *spec) []string {
	var keys []string
	for path, item := range s.doc.Paths.Map() {
		for method, op := range item.Operations() {
			for code := range op.Responses.Map() {
				keys = append(keys, method+" "+path+" "+code)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

// closeNode puts n in the state of a node shutting down: the apps and the
// hub closed, readiness withdrawn; its end (serve's shutdown) closes the
// rest.
func closeNode(t *testing.T, n *servedNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	n.api.Drain()
	if err := n.apps.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.hub.Close(ctx); err != nil {
		t.Fatal(err)
	}
}
