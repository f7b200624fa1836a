package mercure

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Tests of draft-dunglas-mercure, sections "Authorization", "Presenting the
// Access Token", "Token Validation", "Authorization Details", "Publishers",
// "Subscribers", "Topic Matcher List" and "Payloads".

// authReq returns a GET request carrying token in the Authorization header.
func authReq(token string) *http.Request {
	r := subscribeRequest("match=a")
	r.Header.Set("Authorization", "Bearer "+token)
	return r
}

func pemPublic(t *testing.T, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestToken_MUST_have_typ_at_jwt(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	c := claims([]string{"subscribe"}, "*")
	for _, tc := range []struct {
		name string
		typ  any
		ok   bool
	}{
		{"at+jwt", "at+jwt", true},
		{"AT+JWT", "AT+JWT", true},
		{"application/at+jwt", "application/at+jwt", true},
		{"Application/AT+JWT", "Application/AT+JWT", true},
		{"no typ", nil, false},
		{"JWT", "JWT", false},
		{"an ID token", "id_token+jwt", false},
		{"not a string", 1, false},
		{"at+jwt with a prefix", "x-at+jwt", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := signWith(t, jwt.SigningMethodHS256, testSecret, c, map[string]any{"typ": tc.typ})
			_, err := h.Authenticate(authReq(tok), RoleSubscriber)
			if tc.ok {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, ErrInvalidToken)
			}
		})
	}
}

func TestToken_MUST_use_only_allowed_algorithms(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPEM := pemPublic(t, &rsaKey.PublicKey)
	c := claims([]string{"subscribe"}, "*")
	at := map[string]any{"typ": "at+jwt"}

	hs, _ := newTestHandler(t, nil)
	rs, _ := newTestHandler(t, func(o *Options) { o.Auth.PublisherKeys = []Key{{PublicKey: rsaPEM}} })
	both, _ := newTestHandler(t, func(o *Options) {
		o.Auth.PublisherKeys = []Key{{PublicKey: rsaPEM}, {Secret: testSecret}}
	})
	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, c).SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		h     *Handler
		token string
		ok    bool
	}{
		{"HS256 on an HS256 hub", hs, sign(t, c), true},
		{"alg none", hs, none, false},
		{"HS384 with the HS256 key", hs, signWith(t, jwt.SigningMethodHS384, testSecret, c, at), false},
		{"HS256 with another secret", hs, signWith(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), c, at), false},
		{"RS256 on an RS256 hub", rs, signWith(t, jwt.SigningMethodRS256, rsaKey, c, at), true},
		{"RS512 on an RS256 hub", rs, signWith(t, jwt.SigningMethodRS512, rsaKey, c, at), false},
		{"HS256 on an RS256 hub", rs, sign(t, c), false},
		{"confusion: HS256 keyed with the RSA public key", rs, signWith(t, jwt.SigningMethodHS256, rsaPEM, c, at), false},
		{"confusion with both keys configured", both, signWith(t, jwt.SigningMethodHS256, rsaPEM, c, at), false},
		{"RS256 with both keys configured", both, signWith(t, jwt.SigningMethodRS256, rsaKey, c, at), true},
		{"not a JWT", hs, "abc.def.ghi", false},
		{"garbage", hs, "%%%", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.h.Authenticate(authReq(tc.token), RoleSubscriber)
			if tc.ok {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, ErrInvalidToken)
			}
		})
	}
}

func TestToken_public_key_algorithms(t *testing.T) {
	c := claims([]string{"publish"}, "*")
	at := map[string]any{"typ": "at+jwt"}
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	for _, tc := range []struct {
		name   string
		key    Key
		method jwt.SigningMethod
		priv   any
	}{
		{"EdDSA", Key{PublicKey: pemPublic(t, edPub)}, jwt.SigningMethodEdDSA, edPriv},
		{"ES256", Key{PublicKey: pemPublic(t, &ec256.PublicKey)}, jwt.SigningMethodES256, ec256},
		{"ES384", Key{PublicKey: pemPublic(t, &ec384.PublicKey)}, jwt.SigningMethodES384, ec384},
		{"PS256 named", Key{PublicKey: pemPublic(t, &rsaKey.PublicKey), Algorithm: "PS256"}, jwt.SigningMethodPS256, rsaKey},
		{"RS256 from PKCS #1", Key{PublicKey: pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)})}, jwt.SigningMethodRS256, rsaKey},
		{"HS512", Key{Secret: []byte(strings.Repeat("s", 64)), Algorithm: "HS512"}, jwt.SigningMethodHS512, []byte(strings.Repeat("s", 64))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHandler(t, func(o *Options) { o.Auth.PublisherKeys = []Key{tc.key} })
			r := publishRequest("topic=a", signWith(t, tc.method, tc.priv, c, at))
			if _, err := h.Authenticate(r, RolePublisher); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestKeys_refuse_weak_or_mismatched_keys(t *testing.T) {
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for _, tc := range []struct {
		name string
		key  Key
	}{
		{"short HS256 secret", Key{Secret: []byte("short")}},
		{"HS512 secret of 32 bytes", Key{Secret: testSecret[:32], Algorithm: "HS512"}},
		{"secret with an RSA algorithm", Key{Secret: testSecret, Algorithm: "RS256"}},
		{"alg none", Key{Secret: testSecret, Algorithm: "none"}},
		{"1024-bit RSA", Key{PublicKey: pemPublic(t, &small.PublicKey)}},
		{"P-256 key for ES384", Key{PublicKey: pemPublic(t, &ec.PublicKey), Algorithm: "ES384"}},
		{"not PEM", Key{PublicKey: []byte("ssh-ed25519 AAAA")}},
		{"a private key block", Key{PublicKey: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})}},
		{"both secret and public key", Key{Secret: testSecret, PublicKey: pemPublic(t, &ec.PublicKey)}},
		{"empty", Key{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Hub: &recordingHub{}, Auth: AuthOptions{PublisherKeys: []Key{tc.key}}})
			if err == nil {
				t.Fatal("New accepted the key")
			}
		})
	}
	if _, err := New(Options{Hub: &recordingHub{}}); !errors.Is(err, ErrNoKey) {
		t.Fatalf("no key: %v, want ErrNoKey", err)
	}
	if _, err := New(Options{Auth: AuthOptions{PublisherKeys: []Key{{Secret: testSecret}}}}); !errors.Is(err, ErrNoHub) {
		t.Fatalf("no hub: %v, want ErrNoHub", err)
	}
}

func TestToken_kid_chooses_among_trusted_keys(t *testing.T) {
	other := []byte(strings.Repeat("o", 32))
	h, _ := newTestHandler(t, func(o *Options) {
		o.Auth.PublisherKeys = []Key{{Secret: testSecret, ID: "a"}, {Secret: other, ID: "b"}}
	})
	c := claims([]string{"publish"}, "*")
	for _, tc := range []struct {
		name string
		key  []byte
		kid  any
		ok   bool
	}{
		{"kid a, key a", testSecret, "a", true},
		{"kid b, key b", other, "b", true},
		{"kid a, key b", other, "a", false},
		{"unknown kid tries every key", other, "zzz", true},
		{"no kid tries every key", other, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok := signWith(t, jwt.SigningMethodHS256, tc.key, c, map[string]any{"typ": "at+jwt", "kid": tc.kid})
			_, err := h.Authenticate(authReq(tok), RolePublisher)
			if tc.ok {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, ErrInvalidToken)
			}
		})
	}
}

func TestToken_SHOULD_use_separate_publisher_and_subscriber_keys(t *testing.T) {
	subSecret := []byte(strings.Repeat("s", 32))
	h, _ := newTestHandler(t, func(o *Options) { o.Auth.SubscriberKeys = []Key{{Secret: subSecret}} })
	c := claims([]string{"publish", "subscribe"}, "*")
	subTok := signWith(t, jwt.SigningMethodHS256, subSecret, c, map[string]any{"typ": "at+jwt"})
	if _, err := h.Authenticate(authReq(subTok), RoleSubscriber); err != nil {
		t.Fatalf("subscriber key refused for subscribing: %v", err)
	}
	if _, err := h.Authenticate(authReq(subTok), RolePublisher); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a subscriber-key token published: %v", err)
	}
	if _, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber); !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("a publisher-key token subscribed: %v", err)
	}
}

func TestToken_MUST_enforce_exp_and_nbf(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	for _, tc := range []struct {
		name string
		edit func(jwt.MapClaims)
		ok   bool
	}{
		{"valid", func(jwt.MapClaims) {}, true},
		{"no exp", func(c jwt.MapClaims) { delete(c, "exp") }, false},
		{"expired", func(c jwt.MapClaims) { c["exp"] = testNow.Add(-time.Second).Unix() }, false},
		{"exp not a number", func(c jwt.MapClaims) { c["exp"] = "tomorrow" }, false},
		{"nbf in the future", func(c jwt.MapClaims) { c["nbf"] = testNow.Add(time.Minute).Unix() }, false},
		{"nbf in the past", func(c jwt.MapClaims) { c["nbf"] = testNow.Add(-time.Minute).Unix() }, true},
		{"exp as a fraction", func(c jwt.MapClaims) { c["exp"] = float64(testNow.Unix()) + 90.5 }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims([]string{"subscribe"}, "*")
			tc.edit(c)
			tok, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber)
			if !tc.ok {
				wantErr(t, err, ErrInvalidToken)
				return
			}
			wantErr(t, err, nil)
			if tok.Expires.IsZero() {
				t.Fatal("Expires not set")
			}
		})
	}
}

func TestToken_MUST_match_iss_and_aud_when_configured(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) {
		o.Auth.Issuer = "https://localhost"
		o.Auth.Audience = DefaultHubURL
	})
	for _, tc := range []struct {
		name string
		iss  any
		aud  any
		ok   bool
	}{
		{"both match", "https://localhost", DefaultHubURL, true},
		{"aud in an array", "https://localhost", []any{"https://other", DefaultHubURL}, true},
		{"no iss", nil, DefaultHubURL, false},
		{"other iss", "https://localhost/", DefaultHubURL, false},
		{"no aud", "https://localhost", nil, false},
		{"other aud", "https://localhost", "https://localhost/.well-known/mercure/", false},
		{"aud array without it", "https://localhost", []any{"https://other"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims([]string{"subscribe"}, "*")
			delete(c, "iss")
			delete(c, "aud")
			if tc.iss != nil {
				c["iss"] = tc.iss
			}
			if tc.aud != nil {
				c["aud"] = tc.aud
			}
			_, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber)
			if tc.ok {
				wantErr(t, err, nil)
			} else {
				wantErr(t, err, ErrInvalidToken)
			}
		})
	}
	t.Run("not configured: not checked", func(t *testing.T) {
		h, _ := newTestHandler(t, nil)
		c := claims([]string{"subscribe"}, "*")
		delete(c, "iss")
		c["aud"] = "https://elsewhere"
		_, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber)
		wantErr(t, err, nil)
	})
}

func TestToken_MUST_refuse_crit_headers(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	tok := signWith(t, jwt.SigningMethodHS256, testSecret, claims([]string{"subscribe"}, "*"), map[string]any{"typ": "at+jwt", "crit": []any{"exp"}})
	_, err := h.Authenticate(authReq(tok), RoleSubscriber)
	wantErr(t, err, ErrInvalidToken)
}

func TestToken_MUST_prefer_the_header_over_the_cookie(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	good := sign(t, claims([]string{"subscribe"}, "from-header"))
	cookie := sign(t, claims([]string{"subscribe"}, "from-cookie"))
	for _, tc := range []struct {
		name    string
		header  string
		cookies map[string]string
		query   string
		want    string // the granted topic, or the error
	}{
		{"header only", "Bearer " + good, nil, "", "from-header"},
		{"header and cookie: the header", "Bearer " + good, map[string]string{DefaultCookieName: cookie}, "", "from-header"},
		{"invalid header, valid cookie: the header", "Bearer x.y.z", map[string]string{DefaultCookieName: cookie}, "", "invalid"},
		{"cookie only", "", map[string]string{DefaultCookieName: cookie}, "", "from-cookie"},
		{"bearer scheme in lower case", "bearer " + good, nil, "", "from-header"},
		{"several spaces", "Bearer   " + good, nil, "", "from-header"},
		{"the reference hub's cookie name is read too", "", map[string]string{LegacyCookieName: cookie}, "", "from-cookie"},
		{"both cookies: the configured one", "", map[string]string{DefaultCookieName: cookie, LegacyCookieName: good}, "", "from-cookie"},
		{"token in the query is not read", "", nil, "authorization=" + good, "none"},
		{"access_token in the query is not read", "", nil, "access_token=" + good, "none"},
		{"Basic scheme", "Basic dXNlcjpwYXNz", nil, "", "malformed"},
		{"no scheme", good, nil, "", "malformed"},
		{"Bearer without a token", "Bearer", nil, "", "malformed"},
		{"Bearer and spaces", "Bearer   ", nil, "", "malformed"},
		{"two tokens", "Bearer " + good + " " + good, nil, "", "malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := subscribeRequest("match=a&" + tc.query)
			if tc.header != "" {
				r.Header.Set("Authorization", tc.header)
			}
			for k, v := range tc.cookies {
				r.AddCookie(&http.Cookie{Name: k, Value: v})
			}
			tok, err := h.Authenticate(r, RoleSubscriber)
			switch tc.want {
			case "invalid":
				wantErr(t, err, ErrInvalidToken)
			case "none":
				wantErr(t, err, ErrNoToken)
			case "malformed":
				wantErr(t, err, ErrInvalidRequest)
			default:
				wantErr(t, err, nil)
				if !tok.CanSubscribe(NewTarget([]string{tc.want})) {
					t.Fatalf("the token used is not the one from the %s", tc.want)
				}
			}
		})
	}
	t.Run("two Authorization headers", func(t *testing.T) {
		r := authReq(good)
		r.Header.Add("Authorization", "Bearer "+good)
		_, err := h.Authenticate(r, RoleSubscriber)
		wantErr(t, err, ErrInvalidRequest)
	})
	t.Run("token over the size limit", func(t *testing.T) {
		h, _ := newTestHandler(t, func(o *Options) { o.Limits.MaxTokenBytes = 100 })
		_, err := h.Authenticate(authReq(good), RoleSubscriber)
		wantErr(t, err, ErrInvalidToken)
	})
}

func TestAuthorizationDetails_MUST_refuse_the_whole_token_when_one_is_malformed(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) {
		o.Limits = Limits{MaxDetails: 2, MaxDetailTopics: 2, MaxMatcherLength: 30}
	})
	detail := func(actions, topics any) map[string]any {
		return map[string]any{"type": AuthorizationDetailType, "actions": actions, "topics": topics}
	}
	good := detail([]any{"subscribe"}, []any{map[string]any{"match": "a"}})
	for _, tc := range []struct {
		name    string
		details any
	}{
		{"not an array", map[string]any{"type": AuthorizationDetailType}},
		{"an entry not an object", []any{good, "mercure"}},
		{"an entry without type", []any{map[string]any{"actions": []any{"publish"}}}},
		{"type not a string", []any{map[string]any{"type": 1}}},
		{"actions missing", []any{map[string]any{"type": AuthorizationDetailType, "topics": []any{map[string]any{"match": "a"}}}}},
		{"actions empty", []any{detail([]any{}, []any{map[string]any{"match": "a"}})}},
		{"actions not an array", []any{detail("publish", []any{map[string]any{"match": "a"}})}},
		{"a non-string action", []any{detail([]any{"publish", 1}, []any{map[string]any{"match": "a"}})}},
		{"topics missing", []any{map[string]any{"type": AuthorizationDetailType, "actions": []any{"publish"}}}},
		{"topics empty", []any{detail([]any{"publish"}, []any{})}},
		{"a bare string topic", []any{detail([]any{"publish"}, []any{"a"})}},
		{"match missing", []any{detail([]any{"publish"}, []any{map[string]any{"match_type": "exact"}})}},
		{"match not a string", []any{detail([]any{"publish"}, []any{map[string]any{"match": 1}})}},
		{"match_type unknown", []any{detail([]any{"publish"}, []any{map[string]any{"match": "a", "match_type": "uritemplate"}})}},
		{"match_type in another case", []any{detail([]any{"publish"}, []any{map[string]any{"match": "a", "match_type": "Exact"}})}},
		{"match_type not a string", []any{detail([]any{"publish"}, []any{map[string]any{"match": "a", "match_type": true}})}},
		{"invalid URL pattern", []any{detail([]any{"publish"}, []any{map[string]any{"match": "/(", "match_type": "urlpattern"}})}},
		{"control character in a matcher", []any{detail([]any{"publish"}, []any{map[string]any{"match": "a\nb"}})}},
		{"format character in a matcher", []any{detail([]any{"publish"}, []any{map[string]any{"match": "a\u200db"}})}},
		{"matcher over the length limit", []any{detail([]any{"publish"}, []any{map[string]any{"match": strings.Repeat("a", 31)}})}},
		{"too many topics", []any{detail([]any{"publish"}, []any{map[string]any{"match": "a"}, map[string]any{"match": "b"}, map[string]any{"match": "c"}})}},
		{"too many details", []any{good, good, good}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := claims(nil)
			c["authorization_details"] = tc.details
			_, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber)
			wantErr(t, err, ErrInvalidToken)
		})
	}
	t.Run("other types and unknown actions are ignored", func(t *testing.T) {
		c := claims(nil)
		c["authorization_details"] = []any{
			map[string]any{"type": "payment_initiation", "actions": "anything"},
			detail([]any{"delete", "subscribe"}, []any{map[string]any{"match": "a"}}),
			detail([]any{"future-action"}, []any{map[string]any{"match": "b"}}),
		}
		tok, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber)
		wantErr(t, err, nil)
		if !tok.CanSubscribe(NewTarget([]string{"a"})) || tok.CanSubscribe(NewTarget([]string{"b"})) || tok.CanPublish([]string{"a"}) {
			t.Fatal("grants differ from the recognized actions")
		}
	})
	t.Run("no authorization details grant nothing", func(t *testing.T) {
		c := claims(nil)
		delete(c, "authorization_details")
		c["mercure"] = map[string]any{"publish": []any{"*"}}
		tok, err := h.Authenticate(authReq(sign(t, c)), RolePublisher)
		wantErr(t, err, nil)
		if tok.CanPublish([]string{"a"}) {
			t.Fatal("the legacy claim granted publish outside Legacy mode")
		}
	})
	t.Run("keys are case-sensitive", func(t *testing.T) {
		c := claims(nil)
		c["authorization_details"] = []any{map[string]any{"Type": AuthorizationDetailType, "Actions": []any{"publish"}, "Topics": []any{map[string]any{"Match": "*"}}}}
		_, err := h.Authenticate(authReq(sign(t, c)), RolePublisher)
		wantErr(t, err, ErrInvalidToken)
	})
}

func TestPublishers_MUST_be_granted_every_topic(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	tok, err := h.Authenticate(authReq(sign(t, claims([]string{"publish"}, "https://example.com/books/1", "urlpattern:https://example.com/users/:u/books/:b"))), RolePublisher)
	wantErr(t, err, nil)
	for _, tc := range []struct {
		topics []string
		want   bool
	}{
		{[]string{"https://example.com/books/1"}, true},
		{[]string{"https://example.com/books/1", "https://example.com/users/42/books/1"}, true},
		{[]string{"https://example.com/books/1", "https://example.com/books/2"}, false},
		{[]string{"https://example.com/books/2", "https://example.com/users/42/books/1"}, false},
		{nil, false},
	} {
		if got := tok.CanPublish(tc.topics); got != tc.want {
			t.Errorf("CanPublish(%q) = %v, want %v", tc.topics, got, tc.want)
		}
	}
	sub, _ := h.Authenticate(authReq(sign(t, claims([]string{"subscribe"}, "*"))), RolePublisher)
	if sub.CanPublish([]string{"a"}) {
		t.Fatal("a subscribe grant allowed publishing")
	}
}

func TestSubscribers_private_updates_MUST_need_a_grant_on_one_topic(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	// The draft's example: routing selects all books, the token grants books 1 and 7,
	// and the users/42 namespace through alternate topics.
	tok, err := h.Authenticate(authReq(sign(t, claims([]string{"subscribe"},
		"https://example.com/books/1", "https://example.com/books/7", "urlpattern:https://example.com/users/42/*"))), RoleSubscriber)
	wantErr(t, err, nil)
	routing := selector(t, h, "urlpattern:https://example.com/books/:id")
	sub := &Subscriber{Selector: routing, Token: tok}
	anon := &Subscriber{Selector: routing}
	for _, tc := range []struct {
		topics          []string
		private         bool
		toSub, toAnonym bool
	}{
		{[]string{"https://example.com/books/1"}, true, true, false},
		{[]string{"https://example.com/books/2"}, true, false, false},
		{[]string{"https://example.com/books/2"}, false, true, true},
		{[]string{"https://example.com/books/2", "https://example.com/users/42/books/2"}, true, true, false},
		{[]string{"https://example.com/books/2", "https://example.com/users/43/books/2"}, true, false, false},
		{[]string{"https://example.com/users/42/books/2"}, true, false, false}, // granted, but not routed
	} {
		tg := NewTarget(tc.topics)
		if got := sub.Allows(tg, tc.private); got != tc.toSub {
			t.Errorf("%q private=%v to the token holder: %v, want %v", tc.topics, tc.private, got, tc.toSub)
		}
		if got := anon.Allows(tg, tc.private); got != tc.toAnonym {
			t.Errorf("%q private=%v to an anonymous subscriber: %v, want %v", tc.topics, tc.private, got, tc.toAnonym)
		}
	}
}

func TestPayloads_MUST_come_from_the_first_matching_subscribe_detail(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	c := claims(nil)
	c["authorization_details"] = []any{
		map[string]any{"type": AuthorizationDetailType, "actions": []any{"publish"}, "topics": []any{map[string]any{"match": "*"}}, "payload": map[string]any{"p": 0}},
		map[string]any{"type": AuthorizationDetailType, "actions": []any{"subscribe"}, "topics": []any{map[string]any{"match": "https://example.com/foo"}}, "payload": map[string]any{"custom1": 1}},
		map[string]any{"type": AuthorizationDetailType, "actions": []any{"subscribe"}, "topics": []any{map[string]any{"match": "https://example.com/bar/:id", "match_type": "urlpattern"}}, "payload": map[string]any{"custom2": json.Number("12345678901234567890")}},
		map[string]any{"type": AuthorizationDetailType, "actions": []any{"subscribe"}, "topics": []any{map[string]any{"match": "https://example.com/nopayload"}}},
		map[string]any{"type": AuthorizationDetailType, "actions": []any{"subscribe"}, "topics": []any{map[string]any{"match": "*"}}, "payload": map[string]any{"custom3": 3}},
	}
	tok, err := h.Authenticate(authReq(sign(t, c)), RoleSubscriber)
	wantErr(t, err, nil)
	for _, tc := range []struct {
		m    Matcher
		want string
	}{
		{Matcher{MatchExact, "https://example.com/foo"}, `{"custom1":1}`},
		{Matcher{MatchURLPattern, "https://example.com/bar/:id"}, `{"custom2":12345678901234567890}`},
		{Matcher{MatchExact, "https://example.com/bar/1"}, `{"custom2":12345678901234567890}`},
		{Matcher{MatchExact, "https://example.com/nopayload"}, ``},
		{Matcher{MatchExact, "other"}, `{"custom3":3}`},
	} {
		if got := string(tok.Payload(tc.m)); got != tc.want {
			t.Errorf("Payload(%v) = %s, want %s", tc.m, got, tc.want)
		}
	}
}

func TestLegacy_accepts_pre_standardization_tokens(t *testing.T) {
	h, _ := newTestHandler(t, func(o *Options) { o.Legacy = true })
	legacy := jwt.MapClaims{"mercure": map[string]any{
		"publish":   []any{"*"},
		"subscribe": []any{"https://example.com/a", map[string]any{"match": "/b/:x", "match_type": "urlpattern", "payload": "b"}},
		"payload":   map[string]any{"user": 1},
	}, "exp": testNow.Add(time.Hour).Unix()}
	for _, tc := range []struct {
		name   string
		header map[string]any
	}{
		{"typ JWT", map[string]any{"typ": "JWT"}},
		{"no typ", map[string]any{"typ": nil}},
		{"typ at+jwt", map[string]any{"typ": "at+jwt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := signWith(t, jwt.SigningMethodHS256, testSecret, legacy, tc.header)
			tok, err := h.Authenticate(authReq(raw), RolePublisher)
			wantErr(t, err, nil)
			if !tok.CanPublish([]string{"x"}) || !tok.CanSubscribe(NewTarget([]string{"/b/1"})) || tok.CanSubscribe(NewTarget([]string{"/c"})) {
				t.Fatal("legacy grants not read")
			}
			if got := string(tok.Payload(Matcher{MatchExact, "https://example.com/a"})); got != `{"user":1}` {
				t.Fatalf("fallback payload = %s", got)
			}
			if got := string(tok.Payload(Matcher{MatchExact, "/b/2"})); got != `"b"` {
				t.Fatalf("entry payload = %s", got)
			}
		})
	}
	raw := signWith(t, jwt.SigningMethodHS256, testSecret, legacy, map[string]any{"typ": "JWT"})
	for name, r := range map[string]*http.Request{
		"legacy cookie": func() *http.Request {
			r := subscribeRequest("match=a")
			r.AddCookie(&http.Cookie{Name: LegacyCookieName, Value: raw})
			return r
		}(),
		"authorization in query": subscribeRequest("match=a&authorization=" + raw),
	} {
		if _, err := h.Authenticate(r, RoleSubscriber); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, sel := range map[string]any{
		"URI template":  []any{"https://example.com/{id}"},
		"not an array":  "*",
		"number entry":  []any{1},
		"control chars": []any{"a\x00"},
	} {
		t.Run("refused: "+name, func(t *testing.T) {
			c := jwt.MapClaims{"mercure": map[string]any{"subscribe": sel}, "exp": testNow.Add(time.Hour).Unix()}
			_, err := h.Authenticate(authReq(signWith(t, jwt.SigningMethodHS256, testSecret, c, nil)), RoleSubscriber)
			wantErr(t, err, ErrInvalidToken)
		})
	}
	t.Run("exp is still required", func(t *testing.T) {
		c := jwt.MapClaims{"mercure": map[string]any{"subscribe": []any{"*"}}}
		_, err := h.Authenticate(authReq(signWith(t, jwt.SigningMethodHS256, testSecret, c, nil)), RoleSubscriber)
		wantErr(t, err, ErrInvalidToken)
	})
}
