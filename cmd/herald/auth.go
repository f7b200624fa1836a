package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/heraldsse/herald/server"
)

// listFlag is a flag holding a comma-separated list; giving it again adds
// to the list.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// authConfig is what serve's auth and CORS flags set.
type authConfig struct {
	secret     string
	publicKey  string // path of a PEM file
	anonymous  listFlag
	cookie     string
	corsOrigin listFlag
}

// authFlagNames are the flags of authFlags, for serve's help.
var authFlagNames = []string{"auth-secret", "auth-public-key", "anonymous-subscribe", "auth-cookie", "cors-origins"}

// authFlags defines serve's auth and CORS flags on fs.
func authFlags(fs *flag.FlagSet, cfg *authConfig) {
	fs.StringVar(&cfg.secret, "auth-secret", "", "HS256 `secret` that signs tokens (32 random bytes or more); setting it or --auth-public-key turns auth on. Prefer the variable: a flag shows in ps")
	fs.StringVar(&cfg.publicKey, "auth-public-key", "", "`file` holding a PEM public key, RSA (RS256) or Ed25519 (EdDSA), that verifies tokens; turns auth on")
	fs.Var(&cfg.anonymous, "anonymous-subscribe", "with auth on, comma-separated topic `patterns` anyone may subscribe to without a token, such as 'chat/*,stocks/*'; empty means none")
	fs.StringVar(&cfg.cookie, "auth-cookie", server.DefaultAuthCookie, "`name` of the cookie a token may come in (besides Authorization: Bearer and ?access_token=)")
	fs.Var(&cfg.corsOrigin, "cors-origins", "comma-separated `origins` whose pages may call the API from another origin, such as https://app.example.com; * means any, only with auth off; empty means none")
}

// options returns the server options cfg describes: nil auth when no key
// is configured.
func (cfg *authConfig) options() (*server.AuthOptions, server.CORSOptions, error) {
	cors := server.CORSOptions{Origins: cfg.corsOrigin}
	if cfg.secret == "" && cfg.publicKey == "" {
		if len(cfg.anonymous) > 0 {
			return nil, cors, errors.New("--anonymous-subscribe needs auth on: set --auth-secret or --auth-public-key")
		}
		return nil, cors, nil
	}
	for _, o := range cfg.corsOrigin {
		if o == "*" {
			return nil, cors, errors.New("--cors-origins * is only allowed with auth off: with auth on, list the origins")
		}
	}
	a := &server.AuthOptions{Secret: []byte(cfg.secret), AnonymousSubscribe: cfg.anonymous, Cookie: cfg.cookie}
	if cfg.publicKey != "" {
		b, err := os.ReadFile(cfg.publicKey)
		if err != nil {
			return nil, cors, fmt.Errorf("--auth-public-key: %w", err)
		}
		if _, _, err := server.ParsePublicKey(b); err != nil {
			return nil, cors, fmt.Errorf("--auth-public-key %s: %w", cfg.publicKey, err)
		}
		a.PublicKey = b
	}
	return a, cors, nil
}

// logAuth logs how auth is set up: loudly when it is off.
func logAuth(logger *slog.Logger, a *server.AuthOptions) {
	if a == nil {
		logger.Warn("AUTH IS OFF: anyone who can reach this server may publish and subscribe to every topic; set --auth-secret or --auth-public-key before exposing it (see README, Running in production)")
		return
	}
	logger.Info("auth on", "hs256", len(a.Secret) > 0, "public_key", len(a.PublicKey) > 0, "anonymous_subscribe", strings.Join(a.AnonymousSubscribe, ","))
}
