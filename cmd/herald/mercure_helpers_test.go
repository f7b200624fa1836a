package main

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/sse"
)

// The configuration a third-party conformance suite runs herald with, and
// the tokens it signs: HS256 with the reference hub's development key,
// typ at+jwt, iss, aud and authorization_details.
const (
	mercureSecret   = "!ChangeThisMercureHubJWTSecretKey!"
	mercureIssuer   = "https://localhost"
	mercureAudience = "https://localhost/.well-known/mercure"
	mercurePath     = "/.well-known/mercure"
)

// conformanceFlags are herald serve's flags for the conformance suite.
var conformanceFlags = []string{
	"--mercure-key", mercureSecret,
	"--mercure-issuer", mercureIssuer,
	"--mercure-audience", mercureAudience,
	"--mercure-anonymous",
}

// grant is one Mercure authorization detail of a test token.
type grant struct {
	actions []string
	topics  []mercure.Matcher // Type empty: exact
}

// mercureToken signs a token shaped as the conformance suite's, granting
// gs, valid for an hour; edit changes the claims or header before signing.
func mercureToken(t testing.TB, gs []grant, edit func(*jwt.Token)) string {
	t.Helper()
	var details []any
	for _, g := range gs {
		var topics []any
		for _, m := range g.topics {
			o := map[string]any{"match": m.Value}
			if m.Type != "" {
				o["match_type"] = m.Type
			}
			topics = append(topics, o)
		}
		details = append(details, map[string]any{"type": mercure.AuthorizationDetailType, "actions": g.actions, "topics": topics})
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{
		"iss":                   mercureIssuer,
		"aud":                   mercureAudience,
		"sub":                   "test",
		"exp":                   time.Now().Add(time.Hour).Unix(),
		"authorization_details": details,
	})
	tok.Header["typ"] = "at+jwt"
	if edit != nil {
		edit(tok)
	}
	s, err := tok.SignedString([]byte(mercureSecret))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// publisherToken grants publish on every topic; subscriberToken grants
// subscribe on the exact topics given.
func publisherToken(t testing.TB) string {
	return mercureToken(t, []grant{{[]string{"publish"}, []mercure.Matcher{{Value: "*"}}}}, nil)
}

func subscriberToken(t testing.TB, topics ...string) string {
	var ms []mercure.Matcher
	for _, tp := range topics {
		ms = append(ms, mercure.Matcher{Value: tp})
	}
	return mercureToken(t, []grant{{[]string{"subscribe"}, ms}}, nil)
}

// mercurePublish posts form (publish fields) to base's hub with the
// Bearer token tok (none when empty), and returns the status, body and
// response.
func mercurePublish(t testing.TB, base, tok string, form url.Values) (int, string, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, base+mercurePath, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp
}

// mustPublish publishes form with a publisher token and returns the ID.
func mustPublish(t testing.TB, base string, form url.Values) string {
	t.Helper()
	status, body, _ := mercurePublish(t, base, publisherToken(t), form)
	if status != http.StatusOK {
		t.Fatalf("publish %v: %d %q", form, status, body)
	}
	return body
}

// update returns the publish form of topics (canonical first) and data;
// more are field, value pairs.
func update(data string, topics []string, more ...string) url.Values {
	v := url.Values{"topic": topics, "data": {data}}
	for i := 0; i+1 < len(more); i += 2 {
		v.Add(more[i], more[i+1])
	}
	return v
}

// mercureStream is an open subscription.
type mercureStream struct {
	resp *http.Response
	dec  *sse.Decoder
}

// mercureSubscribe opens a subscription on base's hub with query (match
// parameters...) and header, failing unless it is an event stream. The
// stream is closed at the test's end, or after 20 s.
func mercureSubscribe(t testing.TB, base, query string, header http.Header) *mercureStream {
	t.Helper()
	resp := mercureGet(t, base, query, header)
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("subscribe ?%s: %d %q %q", query, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	return &mercureStream{resp: resp, dec: sse.NewDecoder(resp.Body)}
}

// mercureGet sends a subscribe request and returns the answer, whatever it
// is; its body is closed at the test's end, or after 20 s.
func mercureGet(t testing.TB, base, query string, header http.Header) *http.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+mercurePath+"?"+query, nil)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); resp.Body.Close() })
	return resp
}

// next returns the stream's next event, failing when it ends first.
func (s *mercureStream) next(t testing.TB) sse.Event {
	t.Helper()
	ev, err := s.dec.Next()
	if err != nil {
		t.Fatalf("stream ended before the next event: %v", err)
	}
	return ev
}

// datas reads n events and returns their data.
func (s *mercureStream) datas(t testing.TB, n int) []string {
	t.Helper()
	var out []string
	for range n {
		out = append(out, s.next(t).Data)
	}
	return out
}

// bearer returns a header carrying tok.
func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// q builds a query from name, value pairs.
func q(pairs ...string) string {
	v := url.Values{}
	for i := 0; i+1 < len(pairs); i += 2 {
		v.Add(pairs[i], pairs[i+1])
	}
	return v.Encode()
}
