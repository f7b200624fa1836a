package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/server"
)

// FuzzClaims signs arbitrary claims JSON with the configured secret and
// checks that authenticating it never panics, that a token is accepted only
// with a future exp, and that an accepted token allows a topic only when
// one of its subscribe patterns matches it.
func FuzzClaims(f *testing.F) {
	f.Add(`{"herald":{"subscribe":["chat/*"]},"exp":4102444800}`, "chat/a")
	f.Add(`{"herald":{"subscribe":["**"]},"exp":4102444800}`, "a/b/c")
	f.Add(`{"herald":{"subscribe":["chat/**/x"]},"exp":4102444800}`, "chat/a")
	f.Add(`{"herald":{"subscribe":"chat/a"},"exp":4102444800}`, "chat/a")
	f.Add(`{"herald":{"subscribe":["chat/a"]},"exp":1}`, "chat/a")
	f.Add(`{"herald":{"subscribe":["chat/a"]}}`, "chat/a")
	f.Add(`{"herald":null,"exp":"soon"}`, "chat/a")
	f.Add(`[]`, "x")
	secret := []byte("fuzz secret, 32 bytes long......")
	opts := server.AuthOptions{Secret: secret}
	header := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	f.Fuzz(func(t *testing.T, claims, tp string) {
		signing := header + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
		sig, err := jwt.SigningMethodHS256.Sign(signing, secret)
		if err != nil {
			t.Fatal(err)
		}
		tok := signing + "." + base64.RawURLEncoding.EncodeToString(sig)
		status := server.Authorize(opts, tok, []string{tp})
		if status != 0 && status != http.StatusUnauthorized && status != http.StatusForbidden {
			t.Fatalf("status %d for claims %q", status, claims)
		}
		if status != 0 || topic.ValidatePattern(tp) != nil {
			return
		}
		var c server.Claims
		if err := json.Unmarshal([]byte(claims), &c); err != nil {
			t.Fatalf("accepted claims %q that do not decode: %v", claims, err)
		}
		if c.ExpiresAt == nil || !c.ExpiresAt.After(time.Now()) {
			t.Fatalf("accepted claims %q without a future exp", claims)
		}
		ok := false
		for _, p := range c.Herald.Subscribe {
			ok = ok || topic.ValidatePattern(p) == nil && topic.Covers(p, tp)
		}
		if !ok {
			t.Fatalf("claims %q allowed subscribing to %q", claims, tp)
		}
	})
}
