package mercure

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// AuthorizationDetailType is the type of a Mercure authorization detail.
const AuthorizationDetailType = "https://mercure.rocks/authorization-detail"

// Actions of a Mercure authorization detail.
const (
	ActionPublish   = "publish"
	ActionSubscribe = "subscribe"
)

// Cookie names.
const (
	// DefaultCookieName is the cookie the hub reads a token from when
	// AuthOptions.CookieName is empty: the name the draft recommends.
	DefaultCookieName = "__Secure-mercure_access_token"
	// LegacyCookieName is the cookie of the pre-standardization protocol,
	// still the reference hub's default: read as well when the configured
	// cookie is absent, so that apps that set it keep working unchanged.
	LegacyCookieName = "mercureAuthorization"
)

// legacyQueryParam is the pre-standardization token query parameter, read
// only with [Options.Legacy]: the draft forbids tokens in URLs.
const legacyQueryParam = "authorization"

// legacyClaims are the pre-standardization claims holding publish and
// subscribe selectors, read only with [Options.Legacy].
var legacyClaims = []string{"mercure", "https://mercure.rocks/"}

// Role is the part a request plays: it picks the keys its token is checked
// with.
type Role int

const (
	// RolePublisher is a publish request.
	RolePublisher Role = iota
	// RoleSubscriber is a subscribe request.
	RoleSubscriber
)

// AuthOptions configures token validation (draft-dunglas-mercure,
// "Authorization" and "Token Validation").
type AuthOptions struct {
	// PublisherKeys verify publishers' tokens. At least one is required.
	PublisherKeys []Key
	// SubscriberKeys verify subscribers' tokens. Empty means PublisherKeys:
	// the draft recommends separate keys, so that a subscriber key cannot
	// sign a publisher token.
	SubscriberKeys []Key
	// Issuer, when set, is the one issuer the keys belong to: every token's
	// iss must equal it.
	Issuer string
	// Audience, when set, is the hub's resource identifier: every token's
	// aud must be it or contain it. It is also the resource of the
	// protected resource metadata, so it should be the hub URL.
	Audience string
	// Anonymous lets subscribers without a token receive public updates.
	Anonymous bool
	// CookieName is the cookie a token may come in. Empty means
	// [DefaultCookieName].
	CookieName string
	// PublishOrigins lists the origins (scheme://host[:port]), besides the
	// hub's own, from which a publish authenticated by a cookie is accepted;
	// "*" accepts any. A cookie-authenticated publish whose Origin (or, when
	// absent, Referer) is not among them, or that has neither, is refused
	// with 403 (the draft's cross-site request forgery rule).
	PublishOrigins []string
	// AuthorizationServers are advertised in the protected resource
	// metadata as the issuers of tokens for the hub. Empty omits the member
	// (self-issued tokens).
	AuthorizationServers []string
}

// authenticator verifies tokens. Read-only after newAuthenticator; safe for
// concurrent use.
type authenticator struct {
	opts    AuthOptions
	legacy  bool
	limits  Limits
	now     func() time.Time
	comp    *compiler
	roles   [2]roleVerifier
	origins map[string]bool
	hubOrig string
}

type roleVerifier struct {
	parser *jwt.Parser
	byAlg  map[string][]verifier
}

func newAuthenticator(opts AuthOptions, legacy bool, lim Limits, now func() time.Time, comp *compiler, hub *HubURL) (*authenticator, error) {
	if len(opts.PublisherKeys) == 0 {
		return nil, ErrNoKey
	}
	if opts.CookieName == "" {
		opts.CookieName = DefaultCookieName
	}
	a := &authenticator{opts: opts, legacy: legacy, limits: lim, now: now, comp: comp, origins: make(map[string]bool)}
	subKeys := opts.SubscriberKeys
	if len(subKeys) == 0 {
		subKeys = opts.PublisherKeys
	}
	for role, keys := range [2][]Key{opts.PublisherKeys, subKeys} {
		rv, err := a.roleVerifier(keys)
		if err != nil {
			return nil, fmt.Errorf("mercure: %s keys: %w", [2]string{"publisher", "subscriber"}[role], err)
		}
		a.roles[role] = rv
	}
	for _, o := range opts.PublishOrigins {
		a.origins[strings.ToLower(o)] = true
	}
	a.hubOrig = strings.ToLower(hub.base.Protocol() + "//" + hub.base.Host())
	return a, nil
}

func (a *authenticator) roleVerifier(keys []Key) (roleVerifier, error) {
	rv := roleVerifier{byAlg: make(map[string][]verifier)}
	for _, k := range keys {
		v, err := k.verifier()
		if err != nil {
			return rv, err
		}
		rv.byAlg[v.alg] = append(rv.byAlg[v.alg], v)
	}
	algs := make([]string, 0, len(rv.byAlg))
	for alg := range rv.byAlg {
		algs = append(algs, alg)
	}
	popts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(a.now),
		jwt.WithJSONNumber(),
	}
	if a.opts.Issuer != "" {
		popts = append(popts, jwt.WithIssuer(a.opts.Issuer))
	}
	if a.opts.Audience != "" {
		popts = append(popts, jwt.WithAudience(a.opts.Audience))
	}
	rv.parser = jwt.NewParser(popts...)
	return rv, nil
}

// keyFunc offers the trusted keys of the token's algorithm, narrowed to
// the one its kid names when one does. The parser has already refused every
// algorithm that has no key.
func (rv *roleVerifier) keyFunc(t *jwt.Token) (any, error) {
	vs := rv.byAlg[t.Method.Alg()]
	kid, _ := t.Header["kid"].(string)
	set := jwt.VerificationKeySet{}
	for _, v := range vs {
		if kid != "" && v.id == kid {
			return v.key, nil
		}
		set.Keys = append(set.Keys, v.key)
	}
	if len(set.Keys) == 0 {
		return nil, errors.New("no key for the algorithm")
	}
	return set, nil
}

// Token is a validated access token: who it is for and what its
// authorization details grant.
type Token struct {
	// Issuer and Subject are the token's iss and sub claims.
	Issuer, Subject string
	// Expires is the token's exp: a stream opened with it must end by then.
	Expires time.Time

	fromCookie bool
	publish    matchSet
	subscribe  matchSet
	payloads   []payloadGrant // subscribe grants with their payloads, in token order
}

type payloadGrant struct {
	set     matchSet
	payload json.RawMessage
}

// CanPublish reports whether the token grants publish on every one of
// topics (draft-dunglas-mercure, "Publishers"): an update with one topic
// the token does not cover must not be dispatched at all.
func (t *Token) CanPublish(topics []string) bool {
	tg := NewTarget(topics)
	for i := range topics {
		if !t.publish.matches(tg, i) {
			return false
		}
	}
	return len(topics) > 0
}

// CanSubscribe reports whether the token grants subscribe on at least one
// topic of the update tg (draft-dunglas-mercure, "Subscribers"): whether the
// bearer may receive it when it is private.
func (t *Token) CanSubscribe(tg *Target) bool { return t.subscribe.matchesAny(tg) }

// Payload returns the payload of the first subscribe grant whose topics
// match m's value read as a topic (draft-dunglas-mercure, "Payloads"): nil
// when that grant has none or no grant matches. With [Options.Legacy], a
// legacy claim's entries without a payload of their own carry the claim's
// top-level one.
func (t *Token) Payload(m Matcher) json.RawMessage {
	tg := NewTarget([]string{m.Value})
	for _, g := range t.payloads {
		if g.set.matchesAny(tg) {
			return g.payload
		}
	}
	return nil
}

// Authenticate finds and validates the access token of r for role. It
// returns [ErrNoToken] when r has none, [ErrInvalidRequest] when the
// Authorization header is not "Bearer <token>", and an error wrapping
// [ErrInvalidToken] for every validation failure.
//
// The token comes from the Authorization header when r has one, whatever
// cookie it also carries; else from the cookie (draft-dunglas-mercure,
// "Presenting the Access Token"). With [Options.Legacy] the pre-standardization
// cookie and authorization query parameter are read too, in that order.
func (h *Handler) Authenticate(r *http.Request, role Role) (*Token, error) {
	raw, fromCookie, err := h.auth.extract(r)
	if err != nil {
		return nil, err
	}
	tok, err := h.auth.verify(raw, role)
	if err != nil {
		return nil, err
	}
	tok.fromCookie = fromCookie
	return tok, nil
}

// extract returns the raw token of r and whether it came from a cookie.
func (a *authenticator) extract(r *http.Request) (string, bool, error) {
	if vs := r.Header.Values("Authorization"); len(vs) > 0 {
		if len(vs) > 1 {
			return "", false, fmt.Errorf("%w: more than one Authorization header", ErrInvalidRequest)
		}
		scheme, tok, ok := strings.Cut(vs[0], " ")
		tok = strings.TrimLeft(tok, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" || strings.ContainsAny(tok, " \t") {
			return "", false, fmt.Errorf("%w: the Authorization header must be \"Bearer <token>\"", ErrInvalidRequest)
		}
		return tok, false, nil
	}
	names := []string{a.opts.CookieName}
	if a.opts.CookieName != LegacyCookieName {
		names = append(names, LegacyCookieName)
	}
	for _, name := range names {
		if c, err := r.Cookie(name); err == nil && c.Value != "" {
			return c.Value, true, nil
		}
	}
	if a.legacy {
		if v := queryValue(r.URL.RawQuery, legacyQueryParam); v != "" {
			return v, false, nil
		}
	}
	return "", false, ErrNoToken
}

// queryValue returns the first value of name in the query q.
func queryValue(q, name string) string {
	for q != "" {
		var seq string
		seq, q, _ = strings.Cut(q, "&")
		k, v, _ := strings.Cut(seq, "=")
		if formDecode(k) == name {
			return formDecode(v)
		}
	}
	return ""
}

// verify validates raw for role (draft-dunglas-mercure, "Token Validation"):
// size, signature with a trusted key of an allowed algorithm, typ at+jwt,
// no crit header, exp (required) and nbf, iss and aud when configured, and
// the authorization details.
func (a *authenticator) verify(raw string, role Role) (*Token, error) {
	if len(raw) > a.limits.MaxTokenBytes {
		return nil, fmt.Errorf("%w: token of %d bytes, over the limit of %d", ErrInvalidToken, len(raw), a.limits.MaxTokenBytes)
	}
	rv := &a.roles[role]
	claims := jwt.MapClaims{}
	t, err := rv.parser.ParseWithClaims(raw, claims, rv.keyFunc)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := a.checkHeader(t.Header); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	tok := &Token{}
	tok.Issuer, _ = claims["iss"].(string)
	tok.Subject, _ = claims["sub"].(string)
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		tok.Expires = exp.Time
	}
	if err := a.grants(tok, claims); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return tok, nil
}

// checkHeader requires typ at+jwt (or application/at+jwt, compared without
// case), so that tokens issued for something else, an OpenID Connect ID
// token say, are refused. With Legacy, a missing typ and "JWT" pass too.
// A crit header is refused: this hub understands no JWS extension.
func (a *authenticator) checkHeader(h map[string]any) error {
	if _, ok := h["crit"]; ok {
		return errors.New("the token has a crit header, and no extension is understood")
	}
	typ, present := h["typ"]
	s, _ := typ.(string)
	s = strings.ToLower(strings.TrimPrefix(strings.ToLower(s), "application/"))
	switch {
	case s == "at+jwt":
		return nil
	case a.legacy && (!present || s == "jwt"):
		return nil
	}
	return fmt.Errorf("the token's typ is %v, not at+jwt", typ)
}

// grants reads the authorization details (and, with Legacy, the legacy
// claims) into tok. Any malformed Mercure detail refuses the whole token:
// partial acceptance would change what it grants.
func (a *authenticator) grants(tok *Token, claims jwt.MapClaims) error {
	n := 0
	if v, ok := claims["authorization_details"]; ok {
		details, ok := v.([]any)
		if !ok {
			return errors.New("authorization_details is not an array")
		}
		for i, d := range details {
			obj, ok := d.(map[string]any)
			if !ok {
				return fmt.Errorf("authorization_details[%d] is not an object", i)
			}
			typ, ok := obj["type"].(string)
			if !ok {
				return fmt.Errorf("authorization_details[%d] has no type string", i)
			}
			if typ != AuthorizationDetailType {
				continue // another resource's detail: not ours to judge
			}
			if n++; n > a.limits.MaxDetails {
				return fmt.Errorf("more than %d Mercure authorization details", a.limits.MaxDetails)
			}
			if err := a.detail(tok, obj); err != nil {
				return fmt.Errorf("authorization_details[%d]: %w", i, err)
			}
		}
	}
	if a.legacy {
		for _, name := range legacyClaims {
			if v, ok := claims[name]; ok {
				if err := a.legacyClaim(tok, v); err != nil {
					return fmt.Errorf("claim %q: %w", name, err)
				}
			}
		}
	}
	return nil
}

// detail reads one Mercure authorization detail.
func (a *authenticator) detail(tok *Token, obj map[string]any) error {
	actions, ok := obj["actions"].([]any)
	if !ok || len(actions) == 0 {
		return errors.New("actions is not a non-empty array")
	}
	var publish, subscribe bool
	for _, v := range actions {
		s, ok := v.(string)
		if !ok {
			return errors.New("an action is not a string")
		}
		// Unknown actions grant nothing and invalidate nothing.
		publish = publish || s == ActionPublish
		subscribe = subscribe || s == ActionSubscribe
	}
	topics, ok := obj["topics"].([]any)
	if !ok || len(topics) == 0 {
		return errors.New("topics is not a non-empty array")
	}
	if len(topics) > a.limits.MaxDetailTopics {
		return fmt.Errorf("more than %d topics", a.limits.MaxDetailTopics)
	}
	var set matchSet
	for i, t := range topics {
		m, ok := t.(map[string]any)
		if !ok {
			return fmt.Errorf("topics[%d] is not an object", i)
		}
		if err := a.addGrant(&set, m); err != nil {
			return fmt.Errorf("topics[%d]: %w", i, err)
		}
	}
	var payload json.RawMessage
	if p, ok := obj["payload"]; ok {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		payload = b
	}
	a.record(tok, set, publish, subscribe, payload)
	return nil
}

// addGrant reads one topic matcher object {"match": ..., "match_type": ...}.
func (a *authenticator) addGrant(set *matchSet, m map[string]any) error {
	value, ok := m["match"].(string)
	if !ok {
		return errors.New("match is not a string")
	}
	typ := MatchExact
	if v, ok := m["match_type"]; ok {
		if typ, ok = v.(string); !ok {
			return errors.New("match_type is not a string")
		}
	}
	return a.addMatcher(set, Matcher{Type: typ, Value: value})
}

// addMatcher checks m against the same rules as a subscribe parameter and
// compiles it into set.
func (a *authenticator) addMatcher(set *matchSet, m Matcher) error {
	if m.Type != MatchExact && m.Type != MatchURLPattern {
		return fmt.Errorf("match_type %q is not supported", m.Type)
	}
	if len(m.Value) > a.limits.MaxMatcherLength {
		return fmt.Errorf("a matcher is %d bytes, over the limit of %d", len(m.Value), a.limits.MaxMatcherLength)
	}
	if err := checkText(m.Value); err != nil {
		return fmt.Errorf("matcher %q %w", m.Value, err)
	}
	if err := set.add(a.comp, m); err != nil {
		return fmt.Errorf("matcher %q %w", m.Value, err)
	}
	return nil
}

// record adds a detail's grants to tok.
func (a *authenticator) record(tok *Token, set matchSet, publish, subscribe bool, payload json.RawMessage) {
	if publish {
		tok.publish.union(set)
	}
	if subscribe {
		tok.subscribe.union(set)
		tok.payloads = append(tok.payloads, payloadGrant{set: set, payload: payload})
	}
}

// legacyClaim reads a pre-standardization claim: an object with publish and
// subscribe arrays whose entries are strings (an exact topic, or "*") or
// matcher objects (which may carry their own payload), and a top-level
// payload for the subscriptions no entry gives one. A string that looks like
// a URI template (the 0.x selectors) refuses the token: herald does not
// implement them, and reading them as exact topics would silently grant less
// than the issuer meant.
func (a *authenticator) legacyClaim(tok *Token, v any) error {
	obj, ok := v.(map[string]any)
	if !ok {
		return errors.New("not an object")
	}
	var fallback json.RawMessage
	if p, ok := obj["payload"]; ok {
		b, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("payload: %w", err)
		}
		fallback = b
	}
	for _, action := range []string{ActionPublish, ActionSubscribe} {
		raw, ok := obj[action]
		if !ok {
			continue
		}
		entries, ok := raw.([]any)
		if !ok {
			return fmt.Errorf("%s is not an array", action)
		}
		if len(entries) > a.limits.MaxDetailTopics {
			return fmt.Errorf("%s has more than %d entries", action, a.limits.MaxDetailTopics)
		}
		for i, e := range entries {
			var set matchSet
			var payload json.RawMessage
			switch e := e.(type) {
			case string:
				if strings.Contains(e, "{") {
					return fmt.Errorf("%s[%d] %q is a URI template, which herald does not support", action, i, e)
				}
				if err := a.addMatcher(&set, Matcher{Type: MatchExact, Value: e}); err != nil {
					return fmt.Errorf("%s[%d]: %w", action, i, err)
				}
			case map[string]any:
				if err := a.addGrant(&set, e); err != nil {
					return fmt.Errorf("%s[%d]: %w", action, i, err)
				}
				if p, ok := e["payload"]; ok {
					b, err := json.Marshal(p)
					if err != nil {
						return fmt.Errorf("%s[%d] payload: %w", action, i, err)
					}
					payload = b
				}
			default:
				return fmt.Errorf("%s[%d] is neither a string nor an object", action, i)
			}
			if payload == nil {
				payload = fallback
			}
			a.record(tok, set, action == ActionPublish, action == ActionSubscribe, payload)
		}
	}
	return nil
}

// union adds every matcher of o to s.
func (s *matchSet) union(o matchSet) {
	s.all = s.all || o.all
	for k := range o.exact {
		if s.exact == nil {
			s.exact = make(map[string]struct{})
		}
		s.exact[k] = struct{}{}
	}
	for _, p := range o.patterns {
		dup := false
		for _, q := range s.patterns {
			dup = dup || q.source == p.source
		}
		if !dup {
			s.patterns = append(s.patterns, p)
		}
	}
}

// checkOrigin applies the draft's cross-site request forgery rule to a
// publish authenticated by a cookie: its Origin, or when absent its
// Referer's origin, must be the hub's own or one of PublishOrigins.
func (a *authenticator) checkOrigin(r *http.Request) error {
	origin := r.Header.Get("Origin")
	if origin == "" {
		ref, err := url.Parse(r.Header.Get("Referer"))
		if err != nil || ref.Scheme == "" || ref.Host == "" {
			return errors.New("a publish authenticated by a cookie must carry an Origin or Referer header")
		}
		origin = ref.Scheme + "://" + ref.Host
	}
	o := strings.ToLower(origin)
	if o == a.hubOrig || a.origins[o] || a.origins["*"] {
		return nil
	}
	return fmt.Errorf("origin %q may not publish with a cookie", origin)
}
