package server

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/topic"
)

// DefaultAuthCookie is the cookie a token is read from when
// [AuthOptions.Cookie] is empty.
const DefaultAuthCookie = "herald_token"

// AuthOptions turns on JWT authentication (see docs/auth.md). At least one
// of Secret and PublicKey must be set. The accepted signing algorithms are
// exactly those of the configured keys: HS256 for Secret, RS256 for an RSA
// PublicKey, EdDSA for an Ed25519 PublicKey; every other algorithm,
// "none" included, is refused.
type AuthOptions struct {
	// Secret is the HS256 shared secret. Empty means HS256 is not accepted.
	// Use at least 32 random bytes.
	Secret []byte
	// PublicKey is a PEM-encoded public key (PKIX "PUBLIC KEY", or PKCS #1
	// "RSA PUBLIC KEY"): RSA for RS256 or Ed25519 for EdDSA. Empty means
	// neither is accepted.
	PublicKey []byte
	// AnonymousSubscribe lists the patterns anyone may subscribe to without
	// a token. A subscription is allowed without a token only when every
	// topic it names is covered by one of them. Empty means none: every
	// subscription needs a token.
	AnonymousSubscribe []string
	// Cookie is the name of the cookie a token may come in. Empty means
	// [DefaultAuthCookie].
	Cookie string
	// AllowNoExpiry accepts tokens without an exp claim. False (the
	// default) refuses them, so every stream has a bounded life.
	AllowNoExpiry bool
	// Now returns the current time, for checking exp and for ending a
	// stream when its token expires. Nil means time.Now.
	Now func() time.Time
}

// Claims is the payload of a herald token: the registered JWT claims (exp
// above all) and the topics the bearer may use.
type Claims struct {
	// Herald holds the bearer's permissions.
	Herald Scope `json:"herald"`
	jwt.RegisteredClaims
}

// Scope lists the topic patterns a token allows. A request's topic or
// pattern is allowed when one of the patterns covers it: see
// docs/auth.md.
type Scope struct {
	// Publish lists the patterns of topics the bearer may publish to.
	Publish []string `json:"publish,omitempty"`
	// Subscribe lists the patterns the bearer may subscribe with.
	Subscribe []string `json:"subscribe,omitempty"`
}

// Validate reports whether every pattern of c.Herald is a valid topic pattern. It
// implements [jwt.ClaimsValidator], so a token with a bad pattern is
// refused as invalid.
func (c *Claims) Validate() error {
	for _, p := range c.Herald.Publish {
		if err := topic.ValidatePattern(p); err != nil {
			return fmt.Errorf("herald.publish: %w", err)
		}
	}
	for _, p := range c.Herald.Subscribe {
		if err := topic.ValidatePattern(p); err != nil {
			return fmt.Errorf("herald.subscribe: %w", err)
		}
	}
	return nil
}

// auth checks tokens. It is read-only after newAuth, so safe for
// concurrent use.
type auth struct {
	parser    *jwt.Parser
	keys      map[string]any // by alg
	anonymous []string
	cookie    string
	now       func() time.Time
}

// newAuth checks opts and returns the auth it describes.
func newAuth(opts AuthOptions) (*auth, error) {
	a := &auth{keys: make(map[string]any), cookie: opts.Cookie, now: opts.Now}
	if a.cookie == "" {
		a.cookie = DefaultAuthCookie
	}
	if a.now == nil {
		a.now = time.Now
	}
	if len(opts.Secret) > 0 {
		a.keys[jwt.SigningMethodHS256.Alg()] = opts.Secret
	}
	if len(opts.PublicKey) > 0 {
		alg, key, err := ParsePublicKey(opts.PublicKey)
		if err != nil {
			return nil, fmt.Errorf("server: auth public key: %w", err)
		}
		a.keys[alg] = key
	}
	if len(a.keys) == 0 {
		return nil, errors.New("server: AuthOptions has neither Secret nor PublicKey")
	}
	for _, p := range opts.AnonymousSubscribe {
		if err := topic.ValidatePattern(p); err != nil {
			return nil, fmt.Errorf("server: AnonymousSubscribe: %w", err)
		}
	}
	a.anonymous = opts.AnonymousSubscribe
	algs := make([]string, 0, len(a.keys))
	for alg := range a.keys {
		algs = append(algs, alg)
	}
	popts := []jwt.ParserOption{jwt.WithValidMethods(algs), jwt.WithTimeFunc(a.now)}
	if !opts.AllowNoExpiry {
		popts = append(popts, jwt.WithExpirationRequired())
	}
	a.parser = jwt.NewParser(popts...)
	return a, nil
}

// ParsePublicKey parses a PEM-encoded RSA or Ed25519 public key and
// returns the JWT algorithm it verifies, RS256 or EdDSA, and the key.
func ParsePublicKey(pemBytes []byte) (alg string, key any, err error) {
	if k, err := jwt.ParseRSAPublicKeyFromPEM(pemBytes); err == nil {
		return jwt.SigningMethodRS256.Alg(), k, nil
	}
	k, err := jwt.ParseEdPublicKeyFromPEM(pemBytes)
	if err != nil {
		return "", nil, errors.New("not a PEM-encoded RSA or Ed25519 public key")
	}
	return jwt.SigningMethodEdDSA.Alg(), k, nil
}

// keyFunc returns the key for the token's algorithm; the parser has
// already refused every algorithm not in a.keys.
func (a *auth) keyFunc(t *jwt.Token) (any, error) {
	k, ok := a.keys[t.Method.Alg()]
	if !ok {
		return nil, fmt.Errorf("algorithm %s not accepted", t.Method.Alg())
	}
	switch k.(type) {
	case []byte, *rsa.PublicKey, ed25519.PublicKey:
		return k, nil
	}
	return nil, errors.New("no key")
}

// authError is a refused request: 401 or 403 with an RFC 6750 challenge.
type authError struct {
	status int
	code   string // RFC 6750 error code; empty when no credentials were given
	msg    string
}

func (e *authError) Error() string { return e.msg }

func unauthorized(code, msg string) *authError {
	return &authError{http.StatusUnauthorized, code, msg}
}

func forbidden(msg string) *authError {
	return &authError{http.StatusForbidden, "insufficient_scope", msg}
}

// write answers the request with e's status, the WWW-Authenticate
// challenge, and the JSON error.
func (e *authError) write(w http.ResponseWriter) {
	v := `Bearer realm="herald"`
	if e.code != "" {
		v += fmt.Sprintf(`, error=%q, error_description=%q`, e.code, challengeText(e.msg))
	}
	w.Header().Set("WWW-Authenticate", v)
	writeError(w, e.status, e.msg)
}

// challengeText keeps the characters RFC 6750 allows in
// error_description (printable ASCII but '"' and '\').
func challengeText(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return '\''
		}
		return r
	}, s)
}

// token finds the request's token: the Authorization header (Bearer
// scheme only), then the access_token query parameter, then the cookie.
// It returns "" and nil when there is none, and an error when the
// Authorization header holds another scheme.
func (a *auth) token(r *http.Request) (string, *authError) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, _ := strings.Cut(h, " ")
		if !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			return "", unauthorized("invalid_request", "the Authorization header must be \"Bearer <token>\"")
		}
		return strings.TrimSpace(tok), nil
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return tok, nil
	}
	if c, err := r.Cookie(a.cookie); err == nil && c.Value != "" {
		return c.Value, nil
	}
	return "", nil
}

// authenticate returns the claims of the request's token, nil claims when
// it has none, or why its token is refused.
func (a *auth) authenticate(r *http.Request) (*Claims, *authError) {
	raw, aerr := a.token(r)
	if aerr != nil || raw == "" {
		return nil, aerr
	}
	var c Claims
	if _, err := a.parser.ParseWithClaims(raw, &c, a.keyFunc); err != nil {
		switch {
		case errors.Is(err, jwt.ErrTokenExpired):
			return nil, unauthorized("invalid_token", "the token has expired")
		case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
			return nil, unauthorized("invalid_token", "the token has no exp claim")
		case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
			return nil, unauthorized("invalid_token", "the token's signature or algorithm is not accepted")
		default:
			return nil, unauthorized("invalid_token", "the token is invalid")
		}
	}
	return &c, nil
}

// authorizeSubscribe checks that claims (nil for an anonymous request)
// may subscribe to every pattern of topics.
func (a *auth) authorizeSubscribe(claims *Claims, topics []string) *authError {
	for _, t := range topics {
		if topic.ValidatePattern(t) != nil {
			continue // the hub answers 400 for it
		}
		if coveredBy(a.anonymous, t) {
			continue
		}
		if claims == nil {
			return unauthorized("", fmt.Sprintf("subscribing to %q needs a token", t))
		}
		if !coveredBy(claims.Herald.Subscribe, t) {
			return forbidden(fmt.Sprintf("the token does not allow subscribing to %q", t))
		}
	}
	return nil
}

// authorizePublish checks that claims may publish to the topic t.
func authorizePublish(claims *Claims, t string) *authError {
	if topic.Validate(t) != nil {
		return nil // the hub answers 400 for it
	}
	if !coveredBy(claims.Herald.Publish, t) {
		return forbidden(fmt.Sprintf("the token does not allow publishing to %q", t))
	}
	return nil
}

// coveredBy reports whether one of patterns covers r.
func coveredBy(patterns []string, r string) bool {
	for _, c := range patterns {
		if topic.Covers(c, r) {
			return true
		}
	}
	return false
}

// refuse answers a request auth refused, and logs it without its token
// (a refused publish is logged once, by [Server.publish]).
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, e *authError) {
	if _, ok := w.(*statusWriter); ok {
		e.write(w)
		return
	}
	s.logger(r).Debug("request refused", "method", r.Method, "url", api.RedactURL(r.URL), "client", clientAddr(r), "status", e.status, "reason", e.msg)
	e.write(w)
}

// expireAt ends sub after d, when its token expires, which ends its
// stream. The returned stop cancels the timer, or
// waits for it if it has fired, and reports whether it fired; the handler
// then tells the client why in a comment.
func expireAt(sub *hub.Subscription, d time.Duration) (stop func() (expired bool)) {
	done := make(chan struct{})
	t := time.AfterFunc(max(d, 0), func() {
		defer close(done)
		sub.CloseWithComment("herald: token expired; reconnect with a fresh token and Last-Event-ID to resume")
	})
	return func() bool {
		if t.Stop() {
			return false
		}
		<-done
		return true
	}
}
