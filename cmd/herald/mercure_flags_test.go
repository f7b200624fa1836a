package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/mercure"
)

// TestMercureFlags checks how serve's Mercure flags and their HERALD_*
// twins become the hub's options, and the combinations refused. Bad
// inputs: a subscriber key or --mercure-anonymous without a key, a public
// key file that does not exist, one that holds no key, a key too short, a
// hub URL on an API route or the description, one that is no URL, CORS "*".
func TestMercureFlags(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		off     bool   // the hub stays off
		wantErr string // in the parse or build error
	}{
		{name: "off by default", off: true},
		{name: "a key turns it on", args: []string{"--mercure-key", mercureSecret}},
		{name: "from the variable", env: map[string]string{"HERALD_MERCURE_KEY": mercureSecret, "HERALD_MERCURE_ANONYMOUS": "true"}},
		{name: "subscriber key alone", args: []string{"--mercure-subscriber-key", mercureSecret}, wantErr: "need the Mercure hub on"},
		{name: "anonymous alone", args: []string{"--mercure-anonymous"}, wantErr: "need the Mercure hub on"},
		{name: "missing public key file", args: []string{"--mercure-public-key", filepath.Join(dir, "none.pem")}, wantErr: "--mercure-public-key"},
		{name: "public key file without a key", args: []string{"--mercure-public-key", garbage}, wantErr: "mercure"},
		{name: "key too short", args: []string{"--mercure-key", "short"}, wantErr: "mercure"},
		{name: "hub URL on an API route", args: []string{"--mercure-key", mercureSecret, "--mercure-url", "https://example.com/events"}, wantErr: "herald's own routes"},
		{name: "hub URL on the description", args: []string{"--mercure-key", mercureSecret, "--mercure-url", "https://example.com/openapi.json"}, wantErr: "OpenAPI"},
		{name: "hub URL not a URL", args: []string{"--mercure-key", mercureSecret, "--mercure-url", "::"}, wantErr: "mercure"},
		{name: "cors * with the hub on", args: []string{"--mercure-key", mercureSecret, "--cors-origins", "*"}, wantErr: "CORS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg serveConfig
			fs := serveFlags(&cfg)
			lookup := func(k string) (string, bool) { v, ok := tt.env[k]; return v, ok }
			err := parseFlags(fs, help{}, tt.args, lookup, new(strings.Builder), new(strings.Builder))
			if err == nil {
				err = cfg.resolveAuth()
			}
			var n *node
			if err == nil {
				n, err = newNode(t.Context(), cfg, slog.New(slog.DiscardHandler))
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := n.close(context.Background()); err != nil {
					t.Error(err)
				}
			})
			if on := n.api.Mercure() != nil; on == tt.off {
				t.Fatalf("Mercure hub on = %v, want %v", on, !tt.off)
			}
		})
	}
}

// TestMercureKeys checks --mercure-public-key (an Ed25519 key: EdDSA
// tokens of both roles), --mercure-subscriber-key (subscribers' tokens
// signed with it, publishers' with --mercure-key, neither accepted for the
// other role) and --mercure-cookie.
func TestMercureKeys(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "mercure.pub.pem")
	if err := os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	signWith := func(method jwt.SigningMethod, key any, actions ...string) string {
		tok := jwt.NewWithClaims(method, jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix(), "authorization_details": []any{map[string]any{
			"type": mercure.AuthorizationDetailType, "actions": actions, "topics": []any{map[string]any{"match": "*"}},
		}}})
		tok.Header["typ"] = "at+jwt"
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	form := update("x", []string{topicA})

	ed := startNode(t, "--mercure-public-key", file)
	if status, body, _ := mercurePublish(t, ed.ts.URL, signWith(jwt.SigningMethodEdDSA, priv, "publish"), form); status != http.StatusOK {
		t.Errorf("EdDSA publisher token: %d %q", status, body)
	}
	if resp := mercureGet(t, ed.ts.URL, q("match", "*"), bearer(signWith(jwt.SigningMethodEdDSA, priv, "subscribe"))); resp.StatusCode != http.StatusOK {
		t.Errorf("EdDSA subscriber token: %d", resp.StatusCode)
	}
	if status, _, _ := mercurePublish(t, ed.ts.URL, publisherToken(t), form); status != http.StatusUnauthorized {
		t.Errorf("HS256 token with only a public key configured: %d, want 401", status)
	}

	const subKey = "another key for subscribers, 32 bytes+"
	split := startNode(t, "--mercure-key", mercureSecret, "--mercure-subscriber-key", subKey)
	hsSub := signWith(jwt.SigningMethodHS256, []byte(subKey), "subscribe", "publish")
	hsPub := signWith(jwt.SigningMethodHS256, []byte(mercureSecret), "subscribe", "publish")
	if resp := mercureGet(t, split.ts.URL, q("match", "*"), bearer(hsSub)); resp.StatusCode != http.StatusOK {
		t.Errorf("subscriber token signed with --mercure-subscriber-key: %d", resp.StatusCode)
	}
	if resp := mercureGet(t, split.ts.URL, q("match", "*"), bearer(hsPub)); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("subscriber token signed with the publisher key: %d, want 401", resp.StatusCode)
	}
	if status, _, _ := mercurePublish(t, split.ts.URL, hsSub, form); status != http.StatusUnauthorized {
		t.Errorf("publisher token signed with the subscriber key: %d, want 401", status)
	}
	if status, body, _ := mercurePublish(t, split.ts.URL, hsPub, form); status != http.StatusOK {
		t.Errorf("publisher token signed with --mercure-key: %d %q", status, body)
	}

	custom := startNode(t, "--mercure-key", mercureSecret, "--mercure-cookie", "app_token")
	if resp := mercureGet(t, custom.ts.URL, q("match", "*"), http.Header{"Cookie": {"app_token=" + hsPub}}); resp.StatusCode != http.StatusOK {
		t.Errorf("token in the --mercure-cookie cookie: %d", resp.StatusCode)
	}
	if resp := mercureGet(t, custom.ts.URL, q("match", "*"), http.Header{"Cookie": {mercure.DefaultCookieName + "=" + hsPub}}); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("token in the default cookie with --mercure-cookie set: %d, want 401", resp.StatusCode)
	}
}
