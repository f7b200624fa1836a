package mercure

import (
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/heraldsse/herald/sse"
)

// EarliestID is the reserved cursor value asking for every update the hub
// still has (draft-dunglas-mercure, "Reconnection, State Reconciliation, and
// Event Sourcing"); it is also the Mercure-Last-Event-ID value when no event
// precedes the first one sent.
const EarliestID = "earliest"

// ReservedType is the event type the hub gives the events it generates
// itself; publishers may not use it.
const ReservedType = "mercure"

// formType is the only media type a publish body may have.
const formType = "application/x-www-form-urlencoded"

// Update is one publication (draft-dunglas-mercure, "Publication").
type Update struct {
	// Topics holds the canonical topic first, then the alternate topics, as
	// the publisher sent them. It has at least one element.
	Topics []string
	// Data is the update's content, any UTF-8 text; line ends (CR, LF,
	// CRLF) reach subscribers as LF.
	Data string
	// Private marks an update only subscribers whose token grants subscribe
	// on one of its topics may receive.
	Private bool
	// ID is the publisher-supplied ID, or empty when the hub must generate
	// one. A hub that keeps it uses it as the event's id and as a
	// reconnection cursor.
	ID string
	// Type is the SSE event type; empty sends none (a "message" event).
	Type string
	// Retry is the reconnection time to send with the event; zero sends
	// none.
	Retry time.Duration
}

// Event returns u as a Server-Sent Event; its ID is u.ID, which the hub
// must have set by the time it sends the update.
func (u *Update) Event() sse.Event {
	return sse.Event{ID: u.ID, Type: u.Type, Data: u.Data, Retry: u.Retry}
}

// AppendEvent appends u's wire form to dst (see [sse.AppendEvent]): one
// "data:" field per line of Data, so data can never inject a field
// (draft-dunglas-mercure, "Server-Sent Events Field Injection"). It fails
// only for an update that did not come from [Handler.ParsePublish] and has
// CR, LF or NUL in its ID or type.
func (u *Update) AppendEvent(dst []byte) ([]byte, error) {
	return sse.AppendEvent(dst, u.Event())
}

// ParsePublish reads the publish request r into an Update. It checks the
// media type and reads the body up to the body limit, then applies every
// rule of the draft's "Publication" section; see [parsePublishForm]. It does
// not authorize: that is [Token.CanPublish]. Errors wrap
// [ErrUnsupportedMediaType], [ErrTooLarge] or [ErrBadRequest].
func (h *Handler) ParsePublish(r *http.Request) (Update, error) {
	if err := checkFormType(r.Header.Get("Content-Type")); err != nil {
		return Update{}, err
	}
	body, err := readBody(r, h.limits.MaxBody)
	if err != nil {
		return Update{}, fmt.Errorf("%w: %w", ErrTooLarge, err)
	}
	return parsePublishForm(body, h.url, h.limits)
}

// checkFormType accepts application/x-www-form-urlencoded, with no charset
// or the UTF-8 one: the draft requires that encoding, in UTF-8.
func checkFormType(ct string) error {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != formType {
		return fmt.Errorf("%w: the body must be %s, not %q", ErrUnsupportedMediaType, formType, ct)
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return fmt.Errorf("%w: the body must be in UTF-8, not %q", ErrUnsupportedMediaType, cs)
	}
	return nil
}

// readBody reads r's body, failing when it is longer than max bytes.
func readBody(r *http.Request, max int64) (string, error) {
	if r.Body == nil {
		return "", nil
	}
	if r.ContentLength > max {
		return "", fmt.Errorf("body of %d bytes is over the limit of %d", r.ContentLength, max)
	}
	b, err := io.ReadAll(io.LimitReader(r.Body, max+1))
	if err != nil {
		return "", fmt.Errorf("reading the body: %w", err)
	}
	if int64(len(b)) > max {
		return "", fmt.Errorf("body is over the limit of %d bytes", max)
	}
	return string(b), nil
}

// parsePublishForm applies the draft's "Publication" rules to a form body:
//   - at least one topic; each valid UTF-8 without control or format
//     characters, not "*", and outside the hub's reserved namespace (400);
//   - data, id, type and retry are single-valued: the first occurrence
//     counts; an empty value counts as absent;
//   - private is set by the field's presence, whatever its value;
//   - id must not start with "#", be "earliest", or hold control or format
//     characters (400);
//   - type must not be "mercure" or hold control or format characters (400);
//   - retry must be ASCII digits (400), read as milliseconds;
//   - every field name and value must be UTF-8 (400); unknown fields are
//     ignored;
//   - more topics than lim.MaxTopics, a data value over lim.MaxData or
//     another value over lim.MaxField: 413.
func parsePublishForm(body string, hub *HubURL, lim Limits) (Update, error) {
	var u Update
	var seen struct{ data, id, typ, retry bool }
	err := parseForm(body, func(f formPair) error {
		if !utf8.ValidString(f.name) || !utf8.ValidString(f.value) {
			return fmt.Errorf("%w: field %q is not valid UTF-8", ErrBadRequest, f.name)
		}
		switch f.name {
		case "topic":
			return u.addTopic(f.value, hub, lim)
		case "data":
			if len(f.value) > lim.MaxData {
				return fmt.Errorf("%w: data is %d bytes, over the limit of %d", ErrTooLarge, len(f.value), lim.MaxData)
			}
			if !seen.data {
				seen.data, u.Data = true, f.value
			}
		case "private":
			u.Private = true
		case "id":
			return setFirst(&u.ID, f, lim, &seen.id, checkID)
		case "type":
			return setFirst(&u.Type, f, lim, &seen.typ, checkType)
		case "retry":
			if first, err := firstValue(f, lim, &seen.retry); !first {
				return err
			}
			if !isDigits(f.value) {
				return fmt.Errorf("%w: retry %q is not a number of milliseconds (ASCII digits)", ErrBadRequest, f.value)
			}
			u.Retry = parseMillis(f.value)
		}
		return nil
	})
	if err != nil {
		return Update{}, err
	}
	if len(u.Topics) == 0 {
		return Update{}, fmt.Errorf("%w: missing topic", ErrBadRequest)
	}
	return u, nil
}

// firstValue reports whether f is the first non-empty occurrence of a
// single-valued field, seen saying whether one came before; it returns the
// error when f's value is not acceptable at all.
func firstValue(f formPair, lim Limits, seen *bool) (bool, error) {
	if err := checkField(f, lim); err != nil || *seen || f.value == "" {
		return false, err
	}
	*seen = true
	return true, nil
}

// setFirst sets *dst to f's value when it is the first non-empty
// occurrence of its field (see firstValue) and check accepts it.
func setFirst(dst *string, f formPair, lim Limits, seen *bool, check func(string) error) error {
	if first, err := firstValue(f, lim, seen); !first {
		return err
	}
	if err := check(f.value); err != nil {
		return err
	}
	*dst = f.value
	return nil
}

// addTopic checks one topic field and appends it.
func (u *Update) addTopic(topic string, hub *HubURL, lim Limits) error {
	if len(u.Topics) == lim.MaxTopics {
		return fmt.Errorf("%w: more than %d topics", ErrTooLarge, lim.MaxTopics)
	}
	if len(topic) > lim.MaxField {
		return fmt.Errorf("%w: a topic is %d bytes, over the limit of %d", ErrTooLarge, len(topic), lim.MaxField)
	}
	if err := checkText(topic); err != nil {
		return fmt.Errorf("%w: topic %q %w", ErrBadRequest, topic, err)
	}
	if topic == Wildcard {
		return fmt.Errorf("%w: %w: the topic %q is reserved for the wildcard matcher", ErrBadRequest, ErrReservedTopic, topic)
	}
	if hub.Reserved(topic) {
		return fmt.Errorf("%w: %w: the topic %q is in the hub's reserved namespace %s", ErrBadRequest, ErrReservedTopic, topic, hub.Path())
	}
	u.Topics = append(u.Topics, topic)
	return nil
}

// checkField applies the length limit to a single-valued field.
func checkField(f formPair, lim Limits) error {
	if len(f.value) > lim.MaxField {
		return fmt.Errorf("%w: %s is %d bytes, over the limit of %d", ErrTooLarge, f.name, len(f.value), lim.MaxField)
	}
	return nil
}

// checkID applies the draft's rules for a publisher-supplied ID.
func checkID(id string) error {
	switch {
	case strings.HasPrefix(id, "#"):
		return fmt.Errorf("%w: id %q starts with '#', which is for IDs the hub generates", ErrBadRequest, id)
	case id == EarliestID:
		return fmt.Errorf("%w: id %q is reserved", ErrBadRequest, id)
	}
	if err := checkText(id); err != nil {
		return fmt.Errorf("%w: id %q %w", ErrBadRequest, id, err)
	}
	return nil
}

// checkType applies the draft's rules for an event type.
func checkType(typ string) error {
	if typ == ReservedType {
		return fmt.Errorf("%w: type %q is reserved for events the hub generates", ErrBadRequest, typ)
	}
	if err := checkText(typ); err != nil {
		return fmt.Errorf("%w: type %q %w", ErrBadRequest, typ, err)
	}
	return nil
}

// parseMillis reads ASCII digits as milliseconds, saturating at the
// largest whole number of milliseconds a time.Duration holds.
func parseMillis(s string) time.Duration {
	const maxMillis = math.MaxInt64 / int64(time.Millisecond)
	var ms int64
	for i := 0; i < len(s); i++ {
		ms = ms*10 + int64(s[i]-'0')
		if ms > maxMillis {
			return time.Duration(maxMillis) * time.Millisecond
		}
	}
	return time.Duration(ms) * time.Millisecond
}
