package mercure

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// Metadata is the hub's OAuth 2.0 protected resource metadata (RFC 9728, as
// draft-dunglas-mercure "Protected Resource Metadata" profiles it).
type Metadata struct {
	// Resource is the hub's resource identifier, the value tokens carry in
	// aud: AuthOptions.Audience, or the hub URL when that is empty.
	Resource string `json:"resource"`
	// AuthorizationServers are the issuers of tokens for the hub, when
	// configured.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// AuthorizationDetailsTypesSupported is [AuthorizationDetailType].
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported"`
	// BearerMethodsSupported is ["header"]: the cookie is no RFC 6750
	// method, and the query parameter is not accepted.
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	// MercureCookie names the cookie the hub also reads a token from.
	MercureCookie string `json:"mercure_cookie"`
	// MercureMatcherTypesSupported lists the matcher types: exact and
	// urlpattern.
	MercureMatcherTypesSupported []string `json:"mercure_matcher_types_supported"`
	// MercureSubscriptions is true when the hub serves active
	// subscriptions (Options.Subscriptions); omitted otherwise.
	MercureSubscriptions bool `json:"mercure_subscriptions,omitempty"`
}

// Metadata returns the hub's protected resource metadata document.
func (h *Handler) Metadata() Metadata {
	res := h.auth.opts.Audience
	if res == "" {
		res = h.url.String()
	}
	return Metadata{
		Resource:                           res,
		AuthorizationServers:               h.auth.opts.AuthorizationServers,
		AuthorizationDetailsTypesSupported: []string{AuthorizationDetailType},
		BearerMethodsSupported:             []string{"header"},
		MercureCookie:                      h.auth.opts.CookieName,
		MercureMatcherTypesSupported:       []string{MatchExact, MatchURLPattern},
		MercureSubscriptions:               h.subs != nil,
	}
}

// serveMetadata answers GET and HEAD on the metadata path.
func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s is not allowed here: use GET", r.Method))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(h.metadataJSON)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(h.metadataJSON)
}

// Link is a Link header that points a client to the hub
// (draft-dunglas-mercure, "Discovery"). An application sends it with the
// resources whose updates the hub pushes:
//
//	err := mercure.Link{Hub: hubURL, LastEventID: id}.AddTo(w.Header())
type Link struct {
	// Hub is the hub's URL.
	Hub string
	// LastEventID, when set, is the ID of the last update published when the
	// resource was generated; the client passes it back as last_event_id
	// so that no update published in between is lost.
	LastEventID string
	// ContentType, when set, is the media type of the updates' data, when
	// it differs from the resource's.
	ContentType string
	// Type, when set, is the event type every update of the resource
	// carries. It may not be "mercure", which the hub reserves.
	Type string
}

// Value returns l as a Link header value,
// <hub>; rel="mercure"[; last-event-id="..."][; content-type="..."][; type="..."],
// each attribute a quoted string with '"' and '\' escaped. It fails when
// the hub URL is empty or holds '<', '>' or white space, when an attribute
// holds a control or format character (a cursor is an event ID, which has
// none), or when Type is "mercure".
func (l Link) Value() (string, error) {
	if l.Hub == "" || strings.ContainsAny(l.Hub, "<> \t") || checkText(l.Hub) != nil {
		return "", fmt.Errorf("mercure: link: invalid hub URL %q", l.Hub)
	}
	if l.Type == ReservedType {
		return "", fmt.Errorf("mercure: link: type %q is reserved for the hub's own events", l.Type)
	}
	var b strings.Builder
	b.WriteString("<" + l.Hub + `>; rel="mercure"`)
	for _, attr := range [...]struct{ name, value string }{
		{"last-event-id", l.LastEventID}, {"content-type", l.ContentType}, {"type", l.Type},
	} {
		if attr.value == "" {
			continue
		}
		if err := checkText(attr.value); err != nil {
			return "", fmt.Errorf("mercure: link: %s %q %w", attr.name, attr.value, err)
		}
		b.WriteString("; " + attr.name + "=" + quote(attr.value))
	}
	return b.String(), nil
}

// AddTo adds l to the Link fields of h; it fails as [Link.Value] does.
func (l Link) AddTo(h http.Header) error {
	v, err := l.Value()
	if err != nil {
		return err
	}
	h.Add("Link", v)
	return nil
}

// quote returns s as an HTTP quoted-string.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// marshalMetadata encodes m once, at construction.
func marshalMetadata(m Metadata) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // strings and slices of strings always encode
	}
	return b
}
