package server_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// keys are the test's key pairs, made once: RSA key generation is slow.
type keys struct {
	rsa       *rsa.PrivateKey
	rsaPEM    []byte
	ed        ed25519.PrivateKey
	edPEM     []byte
	otherRSA  *rsa.PrivateKey
	otherSecr []byte
}

var testKeys = sync.OnceValue(func() keys {
	var k keys
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.otherRSA, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	pub, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k.ed = ed
	k.rsaPEM = pemPublic(&k.rsa.PublicKey)
	k.edPEM = pemPublic(pub)
	k.otherSecr = []byte("another secret, 32 bytes long!!!")
	return k
})

func pemPublic(pub any) []byte {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// mint signs a token allowing pub and sub, expiring at exp (none when
// zero).
func mint(t testing.TB, method jwt.SigningMethod, key any, pub, sub []string, exp time.Time) string {
	t.Helper()
	c := server.Claims{Herald: server.Scope{Publish: pub, Subscribe: sub}}
	if !exp.IsZero() {
		c.ExpiresAt = jwt.NewNumericDate(exp)
	}
	tok, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		t.Fatalf("signing a test token: %v", err)
	}
	return tok
}

func hs256(t testing.TB, pub, sub []string) string {
	return mint(t, jwt.SigningMethodHS256, testSecret, pub, sub, time.Now().Add(time.Hour))
}

func newAuthEnv(t testing.TB, a server.AuthOptions) *env {
	return newEnv(t, hub.Options{}, server.Options{Auth: &a})
}

// do sends a request and returns its status, its WWW-Authenticate header
// and its JSON error, closing the body. A 200 stream is closed unread.
func do(t testing.TB, e *env, method, target string, header http.Header, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, e.ts.URL+target, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ Error string }
	if resp.StatusCode >= 400 {
		if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
			t.Fatalf("%s %s: %d answer is not JSON: %v", method, target, resp.StatusCode, err)
		}
	}
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), out.Error
}

func bearer(tok string) http.Header {
	return http.Header{"Authorization": {"Bearer " + tok}}
}

// waitNoSubscribers fails the test unless the hub's subscribers drop to
// zero soon: every refused or ended stream must be released.
func waitNoSubscribers(t testing.TB, e *env) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for e.hub.Stats().Subscribers != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("hub has %d subscribers, want 0", e.hub.Stats().Subscribers)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestAuthRefuses tries each way of getting past auth that must fail, over
// real HTTP, and checks the status, the RFC 6750 challenge and the JSON
// error.
func TestAuthRefuses(t *testing.T) {
	k := testKeys()
	hsEnv := newAuthEnv(t, server.AuthOptions{Secret: testSecret, AnonymousSubscribe: []string{"public/*"}})
	rsEnv := newAuthEnv(t, server.AuthOptions{PublicKey: k.rsaPEM})
	bothEnv := newAuthEnv(t, server.AuthOptions{Secret: testSecret, PublicKey: k.rsaPEM})
	edEnv := newAuthEnv(t, server.AuthOptions{PublicKey: k.edPEM})
	now := time.Now()
	chatA := hs256(t, nil, []string{"chat/a"})
	noneTok := mint(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil, []string{"**"}, now.Add(time.Hour))

	tests := []struct {
		name      string
		e         *env
		method    string
		target    string
		header    http.Header
		body      string
		status    int
		challenge string // substring of WWW-Authenticate
	}{
		{"token for chat/a subscribing to chat/b", hsEnv, "GET", "/events?topic=chat/b", bearer(chatA), "", 403, `error="insufficient_scope"`},
		{"token for chat/a subscribing to **", hsEnv, "GET", "/events?topic=**", bearer(chatA), "", 403, `error="insufficient_scope"`},
		{"token for chat/a subscribing to chat/*", hsEnv, "GET", "/events?topic=chat/*", bearer(chatA), "", 403, `error="insufficient_scope"`},
		{"token for chat/a subscribing to chat/a and chat/b", hsEnv, "GET", "/events?topic=chat/a&topic=chat/b", bearer(chatA), "", 403, `error="insufficient_scope"`},
		{"token for chat/* subscribing to chat/**", hsEnv, "GET", "/events?topic=chat/**", bearer(hs256(t, nil, []string{"chat/*"})), "", 403, `error="insufficient_scope"`},
		{"no token", hsEnv, "GET", "/events?topic=chat/a", nil, "", 401, `Bearer realm="herald"`},
		{"no token for a topic beyond the anonymous patterns", hsEnv, "GET", "/events?topic=public/a&topic=chat/a", nil, "", 401, `Bearer realm="herald"`},
		{"expired token", hsEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodHS256, testSecret, nil, []string{"**"}, now.Add(-time.Minute))), "", 401, `error="invalid_token"`},
		{"token without exp", hsEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodHS256, testSecret, nil, []string{"**"}, time.Time{})), "", 401, `error="invalid_token"`},
		{"token signed with another secret", hsEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodHS256, k.otherSecr, nil, []string{"**"}, now.Add(time.Hour))), "", 401, `error="invalid_token"`},
		{"token signed with another RSA key", rsEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodRS256, k.otherRSA, nil, []string{"**"}, now.Add(time.Hour))), "", 401, `error="invalid_token"`},
		{"alg none", hsEnv, "GET", "/events?topic=chat/a", bearer(noneTok), "", 401, `error="invalid_token"`},
		{"alg none to RS256", rsEnv, "GET", "/events?topic=chat/a", bearer(noneTok), "", 401, `error="invalid_token"`},
		{"HS256 token to an RS256 configuration", rsEnv, "GET", "/events?topic=chat/a", bearer(hs256(t, nil, []string{"**"})), "", 401, `error="invalid_token"`},
		{"RSA public key as HMAC secret", rsEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodHS256, k.rsaPEM, nil, []string{"**"}, now.Add(time.Hour))), "", 401, `error="invalid_token"`},
		{"RSA public key as HMAC secret with HS256 also on", bothEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodHS256, k.rsaPEM, nil, []string{"**"}, now.Add(time.Hour))), "", 401, `error="invalid_token"`},
		{"RS256 token to an EdDSA configuration", edEnv, "GET", "/events?topic=chat/a", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, nil, []string{"**"}, now.Add(time.Hour))), "", 401, `error="invalid_token"`},
		{"garbage token", hsEnv, "GET", "/events?topic=chat/a", bearer("not.a.jwt"), "", 401, `error="invalid_token"`},
		{"bad token even for an anonymous topic", hsEnv, "GET", "/events?topic=public/a", bearer("not.a.jwt"), "", 401, `error="invalid_token"`},
		{"token in a token query parameter", hsEnv, "GET", "/events?topic=chat/a&token=" + chatA, nil, "", 401, `Bearer realm="herald"`},
		{"token in a Basic header", hsEnv, "GET", "/events?topic=chat/a", http.Header{"Authorization": {"Basic " + chatA}}, "", 401, `error="invalid_request"`},
		{"token in a header without scheme", hsEnv, "GET", "/events?topic=chat/a", http.Header{"Authorization": {chatA}}, "", 401, `error="invalid_request"`},
		{"token in the wrong cookie", hsEnv, "GET", "/events?topic=chat/a", http.Header{"Cookie": {"token=" + chatA}}, "", 401, `Bearer realm="herald"`},
		{"publish with a subscribe-only token", hsEnv, "POST", "/events", bearer(hs256(t, nil, []string{"**"})), `{"topic":"chat/a","data":"x"}`, 403, `error="insufficient_scope"`},
		{"publish beyond the token's patterns", hsEnv, "POST", "/events", bearer(hs256(t, []string{"chat/*"}, nil)), `{"topic":"news/a","data":"x"}`, 403, `error="insufficient_scope"`},
		{"publish without a token", hsEnv, "POST", "/events", nil, `{"topic":"public/a","data":"x"}`, 401, `Bearer realm="herald"`},
		{"publish with an expired token", hsEnv, "POST", "/events", bearer(mint(t, jwt.SigningMethodHS256, testSecret, []string{"**"}, nil, now.Add(-time.Second))), `{"topic":"chat/a","data":"x"}`, 401, `error="invalid_token"`},
		{"token with an invalid pattern", hsEnv, "GET", "/events?topic=chat/a", bearer(hs256(t, nil, []string{"chat/**/a"})), "", 401, `error="invalid_token"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, challenge, msg := do(t, tt.e, tt.method, tt.target, tt.header, tt.body)
			if status != tt.status {
				t.Fatalf("%s %s = %d (%q), want %d", tt.method, tt.target, status, msg, tt.status)
			}
			if !strings.Contains(challenge, tt.challenge) || !strings.HasPrefix(challenge, `Bearer realm="herald"`) {
				t.Errorf("WWW-Authenticate = %q, want it to contain %q", challenge, tt.challenge)
			}
			if msg == "" {
				t.Errorf("JSON error is empty")
			}
		})
	}
	for _, e := range []*env{hsEnv, rsEnv, bothEnv, edEnv} {
		waitNoSubscribers(t, e)
		if st := e.hub.Stats(); st.Published != 0 {
			t.Errorf("hub published %d events, want 0: every publish was refused", st.Published)
		}
	}
}

// TestAuthAllows checks every place a token may come from, each key type,
// and anonymous subscribing.
func TestAuthAllows(t *testing.T) {
	k := testKeys()
	now := time.Now()
	hsEnv := newAuthEnv(t, server.AuthOptions{Secret: testSecret, AnonymousSubscribe: []string{"public/*"}, Cookie: "tok"})
	bothEnv := newAuthEnv(t, server.AuthOptions{Secret: testSecret, PublicKey: k.rsaPEM})
	edEnv := newAuthEnv(t, server.AuthOptions{PublicKey: k.edPEM})
	chat := hs256(t, []string{"chat/*"}, []string{"chat/*"})
	tests := []struct {
		name   string
		e      *env
		method string
		target string
		header http.Header
		body   string
		status int
	}{
		{"bearer header", hsEnv, "GET", "/events?topic=chat/a", bearer(chat), "", 200},
		{"lower-case bearer scheme", hsEnv, "GET", "/events?topic=chat/a", http.Header{"Authorization": {"bearer " + chat}}, "", 200},
		{"access_token query parameter", hsEnv, "GET", "/events?topic=chat/*&access_token=" + url.QueryEscape(chat), nil, "", 200},
		{"configured cookie", hsEnv, "GET", "/events?topic=chat/a", http.Header{"Cookie": {"tok=" + chat}}, "", 200},
		{"anonymous pattern without a token", hsEnv, "GET", "/events?topic=public/a&topic=public/*", nil, "", 200},
		{"anonymous and token patterns together", hsEnv, "GET", "/events?topic=public/a&topic=chat/b", bearer(chat), "", 200},
		{"publish with a publish token", hsEnv, "POST", "/events", bearer(chat), `{"topic":"chat/a","data":"x"}`, 201},
		{"RS256 token", bothEnv, "GET", "/events?topic=a/b", bearer(mint(t, jwt.SigningMethodRS256, k.rsa, nil, []string{"**"}, now.Add(time.Hour))), "", 200},
		{"HS256 token next to an RSA key", bothEnv, "GET", "/events?topic=a/b", bearer(hs256(t, nil, []string{"a/**"})), "", 200},
		{"EdDSA token", edEnv, "POST", "/events", bearer(mint(t, jwt.SigningMethodEdDSA, k.ed, []string{"**"}, nil, now.Add(time.Hour))), `{"topic":"a","data":"x"}`, 201},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, _, msg := do(t, tt.e, tt.method, tt.target, tt.header, tt.body)
			if status != tt.status {
				t.Fatalf("%s %s = %d (%q), want %d", tt.method, tt.target, status, msg, tt.status)
			}
		})
	}
	for _, e := range []*env{hsEnv, bothEnv, edEnv} {
		waitNoSubscribers(t, e)
	}
}

// TestAuthStreamOutlivingToken opens a stream whose token expires while it
// is open: the server's clock (AuthOptions.Now) runs ahead, so that a token
// valid for an hour (exp is in whole seconds) has one second left. The
// stream must end with a comment saying why, and release its subscription.
func TestAuthStreamOutlivingToken(t *testing.T) {
	const left = time.Second
	var shift atomic.Int64
	e := newAuthEnv(t, server.AuthOptions{Secret: testSecret, Now: func() time.Time { return time.Now().Add(time.Duration(shift.Load())) }})
	start := time.Now()
	exp := start.Add(time.Hour).Truncate(time.Second)
	shift.Store(int64(exp.Sub(start) - left))
	tok := mint(t, jwt.SigningMethodHS256, testSecret, nil, []string{"chat/*"}, exp)
	resp, _ := e.subscribe(t, "topic=chat/a", bearer(tok))
	if resp.StatusCode != 200 {
		t.Fatalf("subscribe = %d, want 200", resp.StatusCode)
	}
	done := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(resp.Body)
		done <- b
	}()
	select {
	case b := <-done:
		if elapsed := time.Since(start); elapsed < left-50*time.Millisecond {
			t.Errorf("stream ended after %v, before its token expired", elapsed)
		}
		if !bytes.Contains(b, []byte(": herald: token expired")) {
			t.Errorf("stream ended with %q, want a token expired comment", b)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("stream still open 10 s after its token expired")
	}
	waitNoSubscribers(t, e)
}

// TestAuthTokenNotLogged sends tokens in each place and checks that no
// log line holds one, even at debug level.
func TestAuthTokenNotLogged(t *testing.T) {
	var logs bytes.Buffer
	var mu sync.Mutex
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(lockedWriter{&mu, &logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv, err := server.New(server.Options{Hub: h, Logger: logger, Auth: &server.AuthOptions{Secret: testSecret}})
	if err != nil {
		t.Fatal(err)
	}
	e := &env{hub: h, srv: srv, ts: httptest.NewServer(srv)}
	t.Cleanup(func() {
		_ = h.Close(context.Background())
		e.ts.Close()
	})
	expired := mint(t, jwt.SigningMethodHS256, testSecret, nil, []string{"**"}, time.Now().Add(-time.Hour))
	scoped := hs256(t, nil, []string{"x"})
	do(t, e, "GET", "/events?topic=chat/a&access_token="+expired, nil, "")
	do(t, e, "GET", "/events?topic=chat/a&access_token="+scoped, nil, "")
	do(t, e, "GET", "/events?topic=chat/a", bearer(expired), "")
	do(t, e, "GET", "/events?topic=chat/a", http.Header{"Cookie": {"herald_token=" + scoped}}, "")
	mu.Lock()
	defer mu.Unlock()
	if logs.Len() == 0 {
		t.Fatal("nothing logged: the test would not see a token")
	}
	for _, tok := range []string{expired, scoped} {
		sig := tok[strings.LastIndexByte(tok, '.')+1:]
		if strings.Contains(logs.String(), sig) {
			t.Errorf("a token is in the logs:\n%s", logs.String())
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestAuthOptionsRejected(t *testing.T) {
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.Close(t.Context()) })
	tests := []struct {
		name string
		opts server.Options
	}{
		{"auth without a key", server.Options{Auth: &server.AuthOptions{}}},
		{"public key that is not PEM", server.Options{Auth: &server.AuthOptions{PublicKey: []byte("nope")}}},
		{"private key as public key", server.Options{Auth: &server.AuthOptions{PublicKey: pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(testKeys().rsa)})}}},
		{"invalid anonymous pattern", server.Options{Auth: &server.AuthOptions{Secret: testSecret, AnonymousSubscribe: []string{"a/**/b"}}}},
		{"CORS * with auth", server.Options{Auth: &server.AuthOptions{Secret: testSecret}, CORS: server.CORSOptions{Origins: []string{"*"}}}},
		{"CORS origin with a path", server.Options{CORS: server.CORSOptions{Origins: []string{"https://a.example/x"}}}},
		{"CORS origin without a scheme", server.Options{CORS: server.CORSOptions{Origins: []string{"a.example"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Hub = h
			if _, err := server.New(tt.opts); err == nil {
				t.Errorf("New(%+v) = nil error, want one", tt.opts)
			}
		})
	}
}
