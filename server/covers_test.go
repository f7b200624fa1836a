package server_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/internal/topic"
	"github.com/heraldsse/herald/server"
)

func TestCovers(t *testing.T) {
	tests := []struct {
		c, r string
		want bool
	}{
		{"**", "chat", true},
		{"**", "chat/a/b", true},
		{"**", "*", true},
		{"**", "**", true},
		{"**", "chat/**", true},
		{"chat/*", "chat/a", true},
		{"chat/*", "chat/*", true},
		{"chat/*", "chat/**", false},
		{"chat/*", "chat", false},
		{"chat/*", "chat/a/b", false},
		{"chat/*", "*/a", false},
		{"chat/*", "news/a", false},
		{"chat/**", "chat/a", true},
		{"chat/**", "chat/a/b", true},
		{"chat/**", "chat/*", true},
		{"chat/**", "chat/*/x", true},
		{"chat/**", "chat/**", true},
		{"chat/**", "chat", false},
		{"chat/**", "**", false},
		{"chat/**", "*/a", false},
		{"chat/a", "chat/a", true},
		{"chat/a", "chat/b", false},
		{"chat/a", "chat/*", false},
		{"chat/a", "chat/**", false},
		{"chat/a", "**", false},
		{"chat/a", "chat", false},
		{"chat/a", "chat/a/b", false},
		{"*", "chat", true},
		{"*", "*", true},
		{"*", "**", false},
		{"*", "chat/a", false},
		{"*/a", "chat/a", true},
		{"*/a", "*/a", true},
		{"*/a", "*/b", false},
		{"*/**", "chat/a", true},
		{"*/**", "**", false},
		{"*/**", "*/**", true},
		{"a/*/c", "a/b/c", true},
		{"a/*/c", "a/*/c", true},
		{"a/*/c", "a/*/*", false},
	}
	for _, tt := range tests {
		t.Run(tt.c+"_covers_"+tt.r, func(t *testing.T) {
			if got := server.Covers(tt.c, tt.r); got != tt.want {
				t.Errorf("covers(%q, %q) = %v, want %v", tt.c, tt.r, got, tt.want)
			}
		})
	}
}

// instances returns topics the pattern r matches: each "*" becomes a
// name and a final "**" one or several names.
func instances(r string) []string {
	one := strings.ReplaceAll(r, "**", "x")
	one = strings.ReplaceAll(one, "*", "y")
	out := []string{one}
	if strings.HasSuffix(r, "**") {
		out = append(out, strings.ReplaceAll(strings.TrimSuffix(r, "**")+"x/y/z", "*", "y"))
	}
	return out
}

// FuzzCovers checks covers against topic.Match: a pattern covers a topic
// exactly when it matches it, covers is reflexive, and when C covers R,
// every topic R matches, C matches too.
func FuzzCovers(f *testing.F) {
	for _, s := range [][2]string{
		{"**", "chat/a"}, {"chat/*", "chat/**"}, {"chat/*", "chat/*"}, {"*/**", "a/*/b"},
		{"a/b", "a/b"}, {"chat/**", "chat"}, {"*", "**"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, c, r string) {
		if topic.ValidatePattern(c) != nil || topic.ValidatePattern(r) != nil {
			return
		}
		if !server.Covers(c, c) {
			t.Fatalf("covers(%q, %q) = false, want true", c, c)
		}
		if !topic.IsPattern(r) {
			if got, want := server.Covers(c, r), topic.Match(c, r); got != want {
				t.Fatalf("covers(%q, %q) = %v, but Match = %v", c, r, got, want)
			}
		}
		if !server.Covers(c, r) {
			return
		}
		for _, tp := range instances(r) {
			if topic.Validate(tp) != nil || !topic.Match(r, tp) {
				continue
			}
			if !topic.Match(c, tp) {
				t.Fatalf("covers(%q, %q) = true, but %q matches %q and not %q", c, r, tp, r, c)
			}
		}
	})
}

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
			ok = ok || topic.ValidatePattern(p) == nil && server.Covers(p, tp)
		}
		if !ok {
			t.Fatalf("claims %q allowed subscribing to %q", claims, tp)
		}
	})
}
