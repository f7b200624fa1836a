package mercure

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// testSecret is the HS256 key of the tests: the reference hub's
// development key, 34 bytes.
var testSecret = []byte("!ChangeThisMercureHubJWTSecretKey!")

// testNow is the tests' clock: tokens are checked against it.
var testNow = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// recordingHub records what the handler asks of the hub, and answers with
// fixed values. It is not a stand-in for herald's hub in an integration
// test: it only lets the handler's request side (parsing, authorization and
// every refusal) be tested before the hub implements Hub; the end-to-end
// tests come with that implementation.
type recordingHub struct {
	mu          sync.Mutex
	published   []Update
	subscribers []*Subscriber
	deadlines   []time.Time
	publishErr  error
}

func (h *recordingHub) Publish(_ context.Context, u Update) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.publishErr != nil {
		return "", h.publishErr
	}
	h.published = append(h.published, u)
	if u.ID != "" {
		return u.ID, nil
	}
	return "#1", nil
}

func (h *recordingHub) Subscribe(ctx context.Context, s *Subscriber) (Stream, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.subscribers = append(h.subscribers, s)
	d, _ := ctx.Deadline()
	h.deadlines = append(h.deadlines, d)
	return recordedStream{}, nil
}

// recordedStream answers the header value "earliest" and writes an empty
// event stream.
type recordedStream struct{}

func (recordedStream) LastEventID() string { return EarliestID }

func (recordedStream) Serve(_ context.Context, w http.ResponseWriter, _ *http.Request) error {
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	return nil
}

// newTestHandler returns a handler over a recordingHub, with testSecret as
// the key of both roles; edit changes the options first.
func newTestHandler(t testing.TB, edit func(*Options)) (*Handler, *recordingHub) {
	t.Helper()
	rh := &recordingHub{}
	opts := Options{
		Hub:  rh,
		Auth: AuthOptions{PublisherKeys: []Key{{Secret: testSecret}}},
		Now:  func() time.Time { return testNow },
	}
	if edit != nil {
		edit(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return h, rh
}

// claims returns valid claims granting actions on matchers (exact, or
// urlpattern when prefixed "urlpattern:"), expiring an hour after testNow.
func claims(actions []string, matchers ...string) jwt.MapClaims {
	topics := []any{}
	for _, m := range matchers {
		if p, ok := strings.CutPrefix(m, "urlpattern:"); ok {
			topics = append(topics, map[string]any{"match": p, "match_type": "urlpattern"})
		} else {
			topics = append(topics, map[string]any{"match": m})
		}
	}
	return jwt.MapClaims{
		"iss": "https://example.com",
		"sub": "urn:example:user",
		"aud": DefaultHubURL,
		"exp": testNow.Add(time.Hour).Unix(),
		"authorization_details": []any{map[string]any{
			"type": AuthorizationDetailType, "actions": toAny(actions), "topics": topics,
		}},
	}
}

func toAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// sign signs c with HS256 and testSecret, typ at+jwt.
func sign(t testing.TB, c jwt.MapClaims) string {
	t.Helper()
	return signWith(t, jwt.SigningMethodHS256, testSecret, c, map[string]any{"typ": "at+jwt"})
}

// signWith signs c with method and key, setting header fields (a nil value
// deletes the field).
func signWith(t testing.TB, method jwt.SigningMethod, key any, c jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatalf("signing: %v", err)
	}
	return s
}

// publishRequest returns a publish request with body form and token (none
// when empty).
func publishRequest(form, token string) *http.Request {
	r := httptest.NewRequest(http.MethodPost, DefaultHubURL, strings.NewReader(form))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// subscribeRequest returns a GET subscribe request with query q.
func subscribeRequest(q string) *http.Request {
	return httptest.NewRequest(http.MethodGet, DefaultHubURL+"?"+q, nil)
}

// form encodes pairs (name, value, name, value, ...) in order.
func form(pairs ...string) string {
	var b strings.Builder
	for i := 0; i+1 < len(pairs); i += 2 {
		if i > 0 {
			b.WriteByte('&')
		}
		b.WriteString(url.QueryEscape(pairs[i]) + "=" + url.QueryEscape(pairs[i+1]))
	}
	return b.String()
}

// serve runs r through h and returns the response.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}
