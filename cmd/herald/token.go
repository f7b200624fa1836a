package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/server"
)

// tokenHelp is the paragraph of "herald token -h".
const tokenHelp = `Mint a token for a herald hub and print it. The token allows publishing to
the topics matching the --publish patterns and subscribing with the patterns
the --subscribe patterns cover, until --ttl from now. It is signed with HS256
by --auth-secret (or HERALD_AUTH_SECRET, the same secret as "herald serve"),
or by --private-key: an RSA key signs RS256 and an Ed25519 key EdDSA, for a
hub started with the matching --auth-public-key.

Example:

	herald token --publish 'chat/*' --subscribe '**' --ttl 1h
	herald token --subscribe 'chat/*,presence/chat/*' --payload '{"name":"ada"}'`

// tokenConfig is what the token command's flags set.
type tokenConfig struct {
	publish    listFlag
	subscribe  listFlag
	ttl        time.Duration
	secret     string
	privateKey string
	subject    string
	payload    string
}

// tokenFlags defines, on a new FlagSet filling cfg, the token command's
// flags: what the token grants, for how long, for whom, and the key that
// signs it.
func tokenFlags(cfg *tokenConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	fs.Var(&cfg.publish, "publish", "comma-separated topic `patterns` the token may publish to (repeatable)")
	fs.Var(&cfg.subscribe, "subscribe", "comma-separated topic `patterns` the token may subscribe with (repeatable)")
	fs.DurationVar(&cfg.ttl, "ttl", time.Hour, "how long the token is valid; a stream using it ends then")
	fs.StringVar(&cfg.secret, "auth-secret", "", "HS256 `secret` to sign with, the hub's --auth-secret; prefer the variable")
	fs.StringVar(&cfg.privateKey, "private-key", "", "`file` holding a PEM private key, RSA (RS256) or Ed25519 (EdDSA), to sign with")
	fs.StringVar(&cfg.subject, "subject", "", "the token's sub claim, naming its holder; empty means none")
	fs.StringVar(&cfg.payload, "payload", "", "the token's payload claim, any `JSON` value (such as '{\"name\":\"ada\"}'), shown with the holder's subscriptions in presence; empty means none")
	return fs
}

// runToken is the token command: it prints a signed token on stdout.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg tokenConfig
	fs := tokenFlags(&cfg)
	if err := parseFlags(fs, help{text: tokenHelp}, args, os.LookupEnv, stdout, stderr); err != nil {
		return helpShown(err)
	}
	tok, err := cfg.mint(time.Now())
	if err != nil {
		return usageError(stderr, fs, help{text: tokenHelp}, err)
	}
	_, err = fmt.Fprintln(stdout, tok)
	return err
}

// mint returns the token cfg describes, issued at now.
func (cfg *tokenConfig) mint(now time.Time) (string, error) {
	if cfg.ttl <= 0 {
		return "", errors.New("--ttl must be positive")
	}
	if len(cfg.publish) == 0 && len(cfg.subscribe) == 0 {
		return "", errors.New("give --publish or --subscribe patterns: a token allowing nothing is useless")
	}
	c := &server.Claims{
		Herald: server.Scope{Publish: cfg.publish, Subscribe: cfg.subscribe},
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   cfg.subject,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(cfg.ttl)),
		},
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	if cfg.payload != "" {
		var buf bytes.Buffer
		if err := json.Compact(&buf, []byte(cfg.payload)); err != nil {
			return "", fmt.Errorf("--payload is not one JSON value: %w", err)
		}
		c.Payload = buf.Bytes()
	}
	var (
		method jwt.SigningMethod
		key    any
	)
	switch {
	case cfg.secret != "" && cfg.privateKey != "":
		return "", errors.New("give --auth-secret or --private-key, not both")
	case cfg.secret != "":
		method, key = jwt.SigningMethodHS256, []byte(cfg.secret)
	case cfg.privateKey != "":
		b, err := os.ReadFile(cfg.privateKey)
		if err != nil {
			return "", fmt.Errorf("--private-key: %w", err)
		}
		if k, err := jwt.ParseRSAPrivateKeyFromPEM(b); err == nil {
			method, key = jwt.SigningMethodRS256, k
		} else if k, err := jwt.ParseEdPrivateKeyFromPEM(b); err == nil {
			method, key = jwt.SigningMethodEdDSA, k
		} else {
			return "", fmt.Errorf("--private-key %s: not a PEM-encoded RSA or Ed25519 private key", cfg.privateKey)
		}
	default:
		return "", errors.New("no key: set --auth-secret (or HERALD_AUTH_SECRET) or --private-key")
	}
	tok, err := jwt.NewWithClaims(method, c).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return tok, nil
}
