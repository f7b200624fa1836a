package mercure

import (
	"fmt"
	"strings"

	wurl "github.com/nlnwa/whatwg-url/url"
)

// DefaultPath is the hub's well-known path (draft-dunglas-mercure,
// "Discovery": the hub URL SHOULD be /.well-known/mercure).
const DefaultPath = "/.well-known/mercure"

// DefaultHubURL is the hub URL [Options] uses when none is given.
const DefaultHubURL = "https://localhost" + DefaultPath

// metadataPrefix is the well-known prefix of RFC 9728 protected resource
// metadata, inserted between a resource identifier's host and path.
const metadataPrefix = "/.well-known/oauth-protected-resource"

// urlParser is the WHATWG URL parser. It holds only options, so it is safe
// for concurrent use.
var urlParser = wurl.NewParser()

// HubURL is the hub's URL, parsed once by the WHATWG URL parser. It is the
// base against which relative topics and URL patterns are resolved, and the
// root of the reserved namespace. It is immutable and safe for concurrent
// use.
type HubURL struct {
	href     string
	base     *wurl.Url
	path     string // pathname as parsed: the route the hub answers on
	normPath string // path after normalize, for Reserved
}

// ParseHubURL parses s, an absolute http or https URL without credentials,
// query or fragment.
func ParseHubURL(s string) (*HubURL, error) {
	u, err := urlParser.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("mercure: hub URL %q: %w", s, err)
	}
	if u.Scheme() != "https" && u.Scheme() != "http" {
		return nil, fmt.Errorf("mercure: hub URL %q: scheme must be http or https", s)
	}
	if u.Username() != "" || u.Password() != "" || u.Search() != "" || u.Hash() != "" || strings.ContainsAny(s, "?#") {
		return nil, fmt.Errorf("mercure: hub URL %q: must have no credentials, query or fragment", s)
	}
	// Clone (inside the parser) fills a URL's search parameters lazily;
	// fill them now so that resolving against base only ever reads it.
	u.SearchParams()
	return &HubURL{href: u.Href(false), base: u, path: u.Pathname(), normPath: normalizePath(u.Pathname())}, nil
}

// String returns the hub URL, serialized.
func (h *HubURL) String() string { return h.href }

// Path returns the path of the hub URL, the route the hub answers on.
func (h *HubURL) Path() string { return h.path }

// MetadataPath returns the path of the hub's protected resource metadata:
// the RFC 9728 prefix followed by the hub's path
// (/.well-known/oauth-protected-resource/.well-known/mercure by default).
func (h *HubURL) MetadataPath() string {
	if h.path == "/" {
		return metadataPrefix
	}
	return metadataPrefix + h.path
}

// MetadataURL returns the absolute URL of the hub's protected resource
// metadata, for the resource_metadata parameter of a challenge.
func (h *HubURL) MetadataURL() string {
	return h.base.Protocol() + "//" + h.base.Host() + h.MetadataPath()
}

// resolve parses topic as a URL reference against the hub URL. ok is false
// when it cannot be parsed.
func (h *HubURL) resolve(topic string) (u *wurl.Url, ok bool) {
	u, err := urlParser.BasicParser(topic, h.base, nil, wurl.NoState)
	return u, err == nil
}

// Reserved reports whether topic addresses the hub's reserved namespace
// (draft-dunglas-mercure, "Publication" and "Reserved Hub Namespace"): topic
// is resolved against the hub URL by the WHATWG URL parser; its path, once
// its percent-encoded unreserved octets are decoded and its dot-segments
// removed, equals the hub's path or begins with it followed by "/", whatever
// the scheme and authority. A topic that cannot be parsed as a URL reference
// is not reserved.
func (h *HubURL) Reserved(topic string) bool {
	u, ok := h.resolve(topic)
	if !ok {
		return false
	}
	p := normalizePath(u.Pathname())
	return p == h.normPath || strings.HasPrefix(p, h.normPath+"/")
}

// normalizePath applies the RFC 3986 normalizations the reserved-namespace
// test needs, in the order of RFC 3986 section 6.2.2: percent-encoded
// unreserved octets decoded (and the hex digits of the rest uppercased),
// then dot-segments removed (section 5.2.4), since decoding can reveal them.
func normalizePath(p string) string {
	if strings.IndexByte(p, '%') >= 0 {
		var b strings.Builder
		b.Grow(len(p))
		for i := 0; i < len(p); i++ {
			if p[i] == '%' && i+2 < len(p) && isHex(p[i+1]) && isHex(p[i+2]) {
				c := unhex(p[i+1])<<4 | unhex(p[i+2])
				if isUnreserved(c) {
					b.WriteByte(c)
				} else {
					b.WriteByte('%')
					b.WriteByte(upperHex(p[i+1]))
					b.WriteByte(upperHex(p[i+2]))
				}
				i += 2
				continue
			}
			b.WriteByte(p[i])
		}
		p = b.String()
	}
	return removeDotSegments(p)
}

// removeDotSegments is the algorithm of RFC 3986 section 5.2.4.
func removeDotSegments(in string) string {
	if !strings.Contains(in, ".") {
		return in
	}
	var out []string // segments, each with its leading "/" when it had one
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			start := 0
			if in[0] == '/' {
				start = 1
			}
			end := strings.IndexByte(in[start:], '/')
			if end < 0 {
				end = len(in)
			} else {
				end += start
			}
			out = append(out, in[:end])
			in = in[end:]
		}
	}
	return strings.Join(out, "")
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	default:
		return c - 'A' + 10
	}
}

func upperHex(c byte) byte {
	if 'a' <= c && c <= 'f' {
		return c - 'a' + 'A'
	}
	return c
}

// isUnreserved reports whether c is an RFC 3986 unreserved character.
func isUnreserved(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		c == '-' || c == '.' || c == '_' || c == '~'
}
