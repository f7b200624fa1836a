package mercure

import (
	"fmt"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/heraldsse/herald/sse"
)

// MethodQuery is the safe HTTP method with a body (RFC 10008) a subscriber
// may use instead of GET to send a matcher list too long for a URL.
const MethodQuery = "QUERY"

// matcherParams maps the supported subscribe parameter names to matcher
// types (draft-dunglas-mercure, "Subscription" and "Matcher Types").
var matcherParams = map[string]string{
	"match":            MatchExact,
	"match_exact":      MatchExact,
	"match_urlpattern": MatchURLPattern,
}

// Subscribe query parameters of the pre-standardization protocol, read only
// with [Options.Legacy].
const (
	legacyTopicParam  = "topic"
	legacyCursorParam = "lastEventID"
)

// SubscribeRequest is a parsed subscribe request.
type SubscribeRequest struct {
	// Selector holds the request's topic matchers.
	Selector *Selector
	// LastEventID is the reconnection cursor: the Last-Event-ID header when
	// present, else the last_event_id parameter; [EarliestID] asks for
	// everything the hub has; empty means none was sent.
	LastEventID string
}

// ParseSubscribe reads the subscribe request r (GET, or QUERY with a form
// body): its topic matchers, compiled into a Selector, and its reconnection
// cursor. It does not authenticate: that is [Handler.Authenticate]. Errors
// wrap [ErrBadRequest], [ErrTooLarge] (a QUERY body over the limit) or
// [ErrUnsupportedMediaType] (a QUERY body that is not a UTF-8 form).
//
// Rules (draft-dunglas-mercure, "Subscription", "Matcher Types",
// "Reconnection, State Reconciliation, and Event Sourcing"):
//   - the query, and for QUERY the body, are parsed as
//     application/x-www-form-urlencoded and their pairs joined: a
//     subscription per matcher parameter of either;
//   - match and match_exact give exact matchers, match_urlpattern URL
//     patterns; any other name beginning with "match" in any case is a 400,
//     names being case-sensitive ("Match" is refused, not read);
//   - each matcher value must be UTF-8 without control or format characters
//     and at most MaxMatcherLength bytes, a URL pattern must compile, and
//     the request may carry at most MaxMatchers matchers of which at most
//     MaxURLPatterns URL patterns: else 400. There must be at least one;
//   - the cursor: the Last-Event-ID header wins over last_event_id, whose
//     query value wins over its body value; the first occurrence counts.
func (h *Handler) ParseSubscribe(r *http.Request) (SubscribeRequest, error) {
	p := subscribeParser{h: h, s: &Selector{}}
	if err := parseForm(r.URL.RawQuery, p.pair); err != nil {
		return SubscribeRequest{}, err
	}
	cursor := p.cursor
	if r.Method == MethodQuery {
		if err := checkFormType(r.Header.Get("Content-Type")); err != nil {
			return SubscribeRequest{}, err
		}
		body, err := readBody(r, h.limits.MaxBody)
		if err != nil {
			return SubscribeRequest{}, fmt.Errorf("%w: %w", ErrTooLarge, err)
		}
		p.cursor = ""
		if err := parseForm(body, p.pair); err != nil {
			return SubscribeRequest{}, err
		}
		if cursor == "" {
			cursor = p.cursor
		}
	}
	if cursor == "" {
		cursor = p.legacyCursor
	}
	if v := r.Header.Get(sse.LastEventIDHeader); v != "" {
		cursor = v
	}
	if len(cursor) > h.limits.MaxField {
		return SubscribeRequest{}, fmt.Errorf("%w: the last event ID is %d bytes, over the limit of %d", ErrBadRequest, len(cursor), h.limits.MaxField)
	}
	if err := checkText(cursor); err != nil {
		return SubscribeRequest{}, fmt.Errorf("%w: the last event ID %w", ErrBadRequest, err)
	}
	if len(p.s.matchers) == 0 {
		return SubscribeRequest{}, fmt.Errorf("%w: no topic matcher: add a match or match_urlpattern parameter", ErrBadRequest)
	}
	return SubscribeRequest{Selector: p.s, LastEventID: cursor}, nil
}

// subscribeParser collects the pairs of a subscribe request.
type subscribeParser struct {
	h            *Handler
	s            *Selector
	patterns     int
	cursor       string // first last_event_id of the component being read
	legacyCursor string
}

func (p *subscribeParser) pair(f formPair) error {
	if !utf8.ValidString(f.name) {
		return fmt.Errorf("%w: a parameter name is not valid UTF-8", ErrBadRequest)
	}
	typ, ok := matcherParams[f.name]
	switch {
	case f.name == "last_event_id":
		if p.cursor == "" {
			p.cursor = f.value
		}
		return nil
	case p.h.legacy && f.name == legacyCursorParam:
		if p.legacyCursor == "" {
			p.legacyCursor = f.value
		}
		return nil
	case p.h.legacy && f.name == legacyTopicParam:
		if strings.Contains(f.value, "{") {
			return fmt.Errorf("%w: topic %q looks like a URI template, which herald does not support: use match_urlpattern", ErrBadRequest, f.value)
		}
		typ = MatchExact
	case !ok && len(f.name) >= 5 && strings.EqualFold(f.name[:5], "match"):
		return fmt.Errorf("%w: %q is not a matcher parameter this hub supports (match, match_exact, match_urlpattern)", ErrBadRequest, f.name)
	case !ok:
		return nil
	}
	lim := p.h.limits
	if len(p.s.matchers) == lim.MaxMatchers {
		return fmt.Errorf("%w: more than %d topic matchers", ErrBadRequest, lim.MaxMatchers)
	}
	if len(f.value) > lim.MaxMatcherLength {
		return fmt.Errorf("%w: a %s value is %d bytes, over the limit of %d", ErrBadRequest, f.name, len(f.value), lim.MaxMatcherLength)
	}
	if err := checkText(f.value); err != nil {
		return fmt.Errorf("%w: %s %q %w", ErrBadRequest, f.name, f.value, err)
	}
	m := Matcher{Type: typ, Value: f.value}
	if typ == MatchURLPattern && f.value != Wildcard {
		if p.patterns == lim.MaxURLPatterns {
			return fmt.Errorf("%w: more than %d URL patterns", ErrBadRequest, lim.MaxURLPatterns)
		}
		p.patterns++
	}
	if err := p.s.set.add(p.h.compiler, m); err != nil {
		return fmt.Errorf("%w: %s %q %w", ErrBadRequest, f.name, f.value, err)
	}
	p.s.matchers = append(p.s.matchers, m)
	return nil
}
