package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"

	"github.com/heraldsse/herald/mercure"
	"github.com/heraldsse/herald/openapi"
)

// mercureConfig is what serve's Mercure flags set.
type mercureConfig struct {
	key           string
	subscriberKey string
	publicKey     string // path of a PEM file
	issuer        string
	audience      string
	anonymous     bool
	url           string
	cookie        string
	legacy        bool
}

// mercureFlagNames are the flags of mercureFlags, for serve's help.
var mercureFlagNames = []string{"mercure-key", "mercure-subscriber-key", "mercure-public-key", "mercure-issuer", "mercure-audience", "mercure-anonymous", "mercure-url", "mercure-cookie", "mercure-legacy"}

// mercureFlags defines serve's Mercure flags on fs.
func mercureFlags(fs *flag.FlagSet, cfg *mercureConfig) {
	fs.StringVar(&cfg.key, "mercure-key", "", "HS256 `secret` (32 bytes or more) verifying Mercure publishers' and subscribers' tokens; setting it or --mercure-public-key serves the Mercure hub at /.well-known/mercure. Prefer the variable: a flag shows in ps")
	fs.StringVar(&cfg.subscriberKey, "mercure-subscriber-key", "", "HS256 `secret` verifying Mercure subscribers' tokens instead of --mercure-key, so that a subscriber's key cannot sign a publisher's token")
	fs.StringVar(&cfg.publicKey, "mercure-public-key", "", "`file` holding a PEM public key, RSA (RS256) or Ed25519 (EdDSA), verifying Mercure tokens of both roles; serves the Mercure hub")
	fs.StringVar(&cfg.issuer, "mercure-issuer", "", "when set, every Mercure token's iss must be this `issuer`")
	fs.StringVar(&cfg.audience, "mercure-audience", "", "when set, every Mercure token's aud must name this `resource` (the hub URL, usually); set it when keys are shared with other hubs")
	fs.BoolVar(&cfg.anonymous, "mercure-anonymous", false, "let Mercure subscribers without a token receive public updates")
	fs.StringVar(&cfg.url, "mercure-url", mercure.DefaultHubURL, "the Mercure hub's public `URL`: relative topics and URL patterns resolve against it, its path is the endpoint's, and it roots the reserved namespace")
	fs.StringVar(&cfg.cookie, "mercure-cookie", mercure.DefaultCookieName, "`name` of the cookie a Mercure token may come in when the request has no Authorization header")
	fs.BoolVar(&cfg.legacy, "mercure-legacy", false, "also accept what clients of the pre-standardization protocol send: tokens with the mercure claim and no typ at+jwt, the authorization query parameter, the topic and lastEventID subscribe parameters")
}

// options returns the Mercure handler's options cfg describes, nil when no
// key turns the endpoint on. corsOrigins may also publish with a token in
// a cookie; maxTopics bounds a subscription's matchers as it bounds an
// /events subscription's topics.
func (cfg *mercureConfig) options(corsOrigins []string, maxTopics int) (*mercure.Options, error) {
	if cfg.key == "" && cfg.publicKey == "" {
		if cfg.subscriberKey != "" || cfg.anonymous {
			return nil, errors.New("--mercure-subscriber-key and --mercure-anonymous need the Mercure hub on: set --mercure-key or --mercure-public-key")
		}
		return nil, nil
	}
	if u, err := mercure.ParseHubURL(cfg.url); err == nil && u.Path() == openapi.Path {
		return nil, fmt.Errorf("--mercure-url %s: its path is the OpenAPI description's; give the hub another", cfg.url)
	}
	var pub, sub []mercure.Key
	if cfg.key != "" {
		pub = append(pub, mercure.Key{Secret: []byte(cfg.key)})
	}
	if cfg.subscriberKey != "" {
		sub = append(sub, mercure.Key{Secret: []byte(cfg.subscriberKey)})
	}
	if cfg.publicKey != "" {
		b, err := os.ReadFile(cfg.publicKey)
		if err != nil {
			return nil, fmt.Errorf("--mercure-public-key: %w", err)
		}
		pub = append(pub, mercure.Key{PublicKey: b})
		if len(sub) > 0 {
			sub = append(sub, mercure.Key{PublicKey: b})
		}
	}
	return &mercure.Options{
		HubURL: cfg.url,
		Auth: mercure.AuthOptions{
			PublisherKeys:  pub,
			SubscriberKeys: sub,
			Issuer:         cfg.issuer,
			Audience:       cfg.audience,
			Anonymous:      cfg.anonymous,
			PublishOrigins: corsOrigins,
			CookieName:     cfg.cookie,
		},
		Limits: mercure.Limits{MaxMatchers: maxTopics},
		Legacy: cfg.legacy,
	}, nil
}

// logMercure logs how the Mercure hub is set up, and warns when tokens
// are not bound to it by an audience.
func logMercure(logger *slog.Logger, o *mercure.Options) {
	if o == nil {
		return
	}
	logger.Info("mercure hub on", "url", o.HubURL, "anonymous", o.Auth.Anonymous, "issuer", o.Auth.Issuer, "audience", o.Auth.Audience, "legacy", o.Legacy)
	if o.Auth.Audience == "" {
		logger.Warn("mercure: --mercure-audience is not set: any token signed with the key is accepted, whatever hub it was issued for")
	}
}
