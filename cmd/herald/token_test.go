package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

// writePEM writes a PEM block to a file in dir and returns its path.
func writePEM(t *testing.T, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// checkToken serves a hub with auth, and checks that tok publishes to
// chat/a but not news/a, subscribes to **, and that no token subscribes to
// nothing.
func checkToken(t *testing.T, auth server.AuthOptions, tok string) {
	t.Helper()
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(server.Options{Hub: h, Auth: &auth})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
		ts.Close()
	})
	for _, c := range []struct {
		method, target, token, body string
		want                        int
	}{
		{"POST", "/events", tok, `{"topic":"chat/a","data":"hi"}`, 201},
		{"POST", "/events", tok, `{"topic":"news/a","data":"hi"}`, 403},
		{"GET", "/events?topic=**", tok, "", 200},
		{"GET", "/events?topic=**", "", "", 401},
	} {
		req, err := http.NewRequestWithContext(t.Context(), c.method, ts.URL+c.target, strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := ts.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s %s with the minted token = %d, want %d", c.method, c.target, resp.StatusCode, c.want)
		}
	}
}

// TestTokenValidatesAgainstServer mints a token with "herald token" for
// each kind of key and uses it against a server configured with the
// matching key.
func TestTokenValidatesAgainstServer(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rsaPubDER, _ := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	edPubDER, _ := x509.MarshalPKIXPublicKey(edPub)
	edDER, err := x509.MarshalPKCS8PrivateKey(edKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaFile := writePEM(t, "rsa.pem", "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))
	edFile := writePEM(t, "ed.pem", "PRIVATE KEY", edDER)
	const secret = "a secret shared by token and serve"
	tests := []struct {
		name string
		env  string // HERALD_AUTH_SECRET
		args []string
		auth server.AuthOptions
	}{
		{"hs256 from the variable", secret, nil, server.AuthOptions{Secret: []byte(secret)}},
		{"hs256 from the flag", "", []string{"--auth-secret", secret}, server.AuthOptions{Secret: []byte(secret)}},
		{"rs256", "", []string{"--private-key", rsaFile}, server.AuthOptions{PublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: rsaPubDER})}},
		{"eddsa", "", []string{"--private-key", edFile}, server.AuthOptions{PublicKey: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: edPubDER})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("HERALD_AUTH_SECRET", tt.env)
			}
			var stdout, stderr strings.Builder
			args := append([]string{"token", "--publish", "chat/*", "--subscribe", "**", "--ttl", "1h"}, tt.args...)
			if err := run(t.Context(), args, &stdout, &stderr); err != nil {
				t.Fatalf("run(%q) = %v\n%s", args, err, stderr.String())
			}
			tok := strings.TrimSpace(stdout.String())
			if strings.Count(tok, ".") != 2 || strings.Contains(tok, "\n") {
				t.Fatalf("token output %q is not one JWT", stdout.String())
			}
			checkToken(t, tt.auth, tok)
		})
	}
}

func TestTokenUsage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantErr    error
		wantStdout string
		wantStderr string
	}{
		{name: "help", args: []string{"token", "-h"}, wantStdout: "Usage: herald token"},
		{name: "listed in herald -h", args: []string{"-h"}, wantStdout: "token "},
		{name: "no key", args: []string{"token", "--subscribe", "**"}, wantErr: errUsage, wantStderr: "no key"},
		{name: "two keys", args: []string{"token", "--subscribe", "**", "--auth-secret", "s", "--private-key", "k.pem"}, wantErr: errUsage, wantStderr: "not both"},
		{name: "no patterns", args: []string{"token", "--auth-secret", "s"}, wantErr: errUsage, wantStderr: "--publish or --subscribe"},
		{name: "bad pattern", args: []string{"token", "--auth-secret", "s", "--subscribe", "a/**/b"}, wantErr: errUsage, wantStderr: "herald.subscribe"},
		{name: "zero ttl", args: []string{"token", "--auth-secret", "s", "--subscribe", "**", "--ttl", "0s"}, wantErr: errUsage, wantStderr: "--ttl must be positive"},
		{name: "missing private key", args: []string{"token", "--subscribe", "**", "--private-key", filepath.Join(t.TempDir(), "none.pem")}, wantErr: errUsage, wantStderr: "--private-key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("HERALD_AUTH_SECRET", "")
			os.Unsetenv("HERALD_AUTH_SECRET")
			var stdout, stderr strings.Builder
			err := run(t.Context(), tt.args, &stdout, &stderr)
			if tt.wantErr == nil && err != nil || tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("run(%q) = %v, want %v", tt.args, err, tt.wantErr)
			}
			if !strings.Contains(stdout.String(), tt.wantStdout) {
				t.Errorf("run(%q) stdout:\n%s\nwant it to contain %q", tt.args, stdout.String(), tt.wantStdout)
			}
			if !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("run(%q) stderr:\n%s\nwant it to contain %q", tt.args, stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestServeAuthFlags checks that serve's auth and CORS flags reach the
// server's options, and that bad combinations are refused at start.
func TestServeAuthFlags(t *testing.T) {
	pubDER, _ := x509.MarshalPKIXPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	pubFile := writePEM(t, "pub.pem", "PUBLIC KEY", pubDER)
	var cfg serveConfig
	fs := serveFlags(&cfg)
	if err := fs.Parse([]string{"--auth-public-key", pubFile, "--anonymous-subscribe", "chat/*, stocks/*", "--anonymous-subscribe", "system/metrics", "--auth-cookie", "c", "--cors-origins", "https://a.example,https://b.example"}); err != nil {
		t.Fatal(err)
	}
	if err := applyEnv(fs, func(k string) (string, bool) {
		if k == "HERALD_AUTH_SECRET" {
			return "from the variable", true
		}
		return "", false
	}); err != nil {
		t.Fatal(err)
	}
	auth, cors, err := cfg.auth.options()
	if err != nil {
		t.Fatal(err)
	}
	if auth == nil || string(auth.Secret) != "from the variable" || len(auth.PublicKey) == 0 || auth.Cookie != "c" ||
		strings.Join(auth.AnonymousSubscribe, " ") != "chat/* stocks/* system/metrics" {
		t.Errorf("auth options = %+v", auth)
	}
	if strings.Join(cors.Origins, " ") != "https://a.example https://b.example" {
		t.Errorf("CORS origins = %q", cors.Origins)
	}

	tests := []struct {
		name, wantStderr string
		args             []string
	}{
		{"cors * with auth", "--cors-origins * is only allowed with auth off", []string{"--auth-secret", "s", "--cors-origins", "*"}},
		{"anonymous without auth", "--anonymous-subscribe needs auth on", []string{"--anonymous-subscribe", "chat/*"}},
		{"missing public key file", "--auth-public-key", []string{"--auth-public-key", filepath.Join(t.TempDir(), "none.pem")}},
		{"public key file without a key", "not a PEM-encoded", []string{"--auth-public-key", writePEM(t, "junk.pem", "JUNK", []byte("x"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stderr strings.Builder
			err := run(t.Context(), append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...), io.Discard, &stderr)
			if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), tt.wantStderr) {
				t.Errorf("serve %q = %v, stderr:\n%s\nwant a usage error containing %q", tt.args, err, stderr.String(), tt.wantStderr)
			}
		})
	}
}

// TestServeAuth runs "herald serve" with and without a key: without, it
// warns that auth is off; with one, a hub stream needs a token except on
// the anonymous patterns, and a minted token works.
func TestServeAuth(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		wantWarn bool
		want     map[string]int // target → status without a token
	}{
		{"no key", nil, true, map[string]int{"/events?topic=chat/a": 200, "/healthz": 200}},
		{"secret", []string{"--auth-secret", "s3cret-s3cret-s3cret-s3cret-s3cret", "--anonymous-subscribe", "chat/*"}, false,
			map[string]int{"/events?topic=chat/a": 200, "/events?topic=news/a": 401, "/healthz": 200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			logs := newLogWriter()
			exited := make(chan struct{})
			go func() {
				defer close(exited)
				_ = run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, tt.args...), io.Discard, logs)
			}()
			t.Cleanup(func() {
				cancel()
				<-exited
			})
			url := logs.waitURL(t, exited)
			if got := strings.Contains(logs.String(), "AUTH IS OFF"); got != tt.wantWarn {
				t.Errorf("AUTH IS OFF warning logged = %v, want %v\n%s", got, tt.wantWarn, logs)
			}
			for target, want := range tt.want {
				req, err := http.NewRequestWithContext(ctx, "GET", url+target, nil)
				if err != nil {
					t.Fatal(err)
				}
				resp, err := http.DefaultTransport.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("GET %s = %d, want %d", target, resp.StatusCode, want)
				}
			}
			if strings.Contains(logs.String(), "s3cret") {
				t.Errorf("the secret is in the log:\n%s", logs)
			}
		})
	}
}
