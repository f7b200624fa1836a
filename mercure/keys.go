package mercure

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// Key is one trusted key for verifying access tokens. Exactly one of Secret
// and PublicKey is set. The algorithms a hub accepts are exactly those of
// its keys (draft-dunglas-mercure, "Token Validation": an explicit
// allowlist, never taken from the token); "none" is never one of them.
type Key struct {
	// Algorithm is the JWS algorithm the key verifies. For a Secret: HS256
	// (the default), HS384 or HS512. For an RSA PublicKey: RS256 (the
	// default), RS384, RS512, PS256, PS384 or PS512. For an ECDSA one: the
	// curve's, ES256 (P-256), ES384 (P-384) or ES512 (P-521), which is the
	// default. For an Ed25519 one: EdDSA.
	Algorithm string
	// Secret is an HMAC key, at least as long as the hash (32 bytes for
	// HS256), as RFC 7518 requires.
	Secret []byte
	// PublicKey is a PEM-encoded public key: PKIX "PUBLIC KEY" (RSA, ECDSA
	// or Ed25519) or PKCS #1 "RSA PUBLIC KEY". RSA keys must have at least
	// 2048 bits.
	PublicKey []byte
	// ID, when set, is matched against a token's kid header to choose among
	// several keys of one algorithm; a kid that names no key has every key
	// of the algorithm tried. It never adds a key.
	ID string
}

// verifier is a Key ready for use.
type verifier struct {
	alg string
	id  string
	key any
}

var hmacMinLen = map[string]int{"HS256": 32, "HS384": 48, "HS512": 64}

var rsaAlgs = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}

// verifier checks k and returns it ready for use.
func (k Key) verifier() (verifier, error) {
	switch {
	case len(k.Secret) > 0 && len(k.PublicKey) > 0:
		return verifier{}, errors.New("a key has both Secret and PublicKey")
	case len(k.Secret) > 0:
		alg := k.Algorithm
		if alg == "" {
			alg = "HS256"
		}
		n, ok := hmacMinLen[alg]
		if !ok {
			return verifier{}, fmt.Errorf("algorithm %q does not use a secret (HS256, HS384 or HS512 do)", alg)
		}
		if len(k.Secret) < n {
			return verifier{}, fmt.Errorf("an %s secret must be at least %d bytes, this one is %d", alg, n, len(k.Secret))
		}
		return verifier{alg: alg, id: k.ID, key: k.Secret}, nil
	case len(k.PublicKey) > 0:
		pub, err := parsePublicKey(k.PublicKey)
		if err != nil {
			return verifier{}, err
		}
		alg, err := publicKeyAlg(pub, k.Algorithm)
		if err != nil {
			return verifier{}, err
		}
		return verifier{alg: alg, id: k.ID, key: pub}, nil
	}
	return verifier{}, errors.New("a key has neither Secret nor PublicKey")
}

// parsePublicKey decodes a PEM block holding a PKIX or PKCS #1 public key.
func parsePublicKey(pemBytes []byte) (any, error) {
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, errors.New("the public key is not PEM-encoded")
	}
	switch block.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing the public key: %w", err)
		}
		return k, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("parsing the public key: %w", err)
		}
		return k, nil
	}
	return nil, fmt.Errorf("a PEM block of type %q is not a public key", block.Type)
}

// publicKeyAlg returns the algorithm pub verifies: want, when it suits the
// key, or the key's default when want is empty.
func publicKeyAlg(pub any, want string) (string, error) {
	var allowed []string
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if k.N.BitLen() < 2048 {
			return "", fmt.Errorf("an RSA key must have at least 2048 bits, this one has %d", k.N.BitLen())
		}
		allowed = rsaAlgs
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			allowed = []string{"ES256"}
		case elliptic.P384():
			allowed = []string{"ES384"}
		case elliptic.P521():
			allowed = []string{"ES512"}
		default:
			return "", errors.New("an ECDSA key must be on P-256, P-384 or P-521")
		}
	case ed25519.PublicKey:
		allowed = []string{"EdDSA"}
	default:
		return "", fmt.Errorf("unsupported public key type %T", pub)
	}
	if want == "" {
		return allowed[0], nil
	}
	if !slices.Contains(allowed, want) {
		return "", fmt.Errorf("algorithm %q does not suit this key (it does %v)", want, allowed)
	}
	return want, nil
}
