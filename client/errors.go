package client

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/heraldsse/herald/api"
)

var (
	// ErrInvalidURL is returned by [New], [Publish] and [EventsURL] when
	// the URL is not an absolute http or https URL.
	ErrInvalidURL = errors.New("client: URL is not an absolute http or https URL")

	// ErrBadStatus is wrapped by [StatusError]: the server answered with a
	// status that means failure. [Conn.Events] yields it for any status
	// other than 200 OK or 204 No Content, and the source fails for good (a
	// browser does not reconnect either); [Publish] returns it for any
	// status outside 2xx.
	ErrBadStatus = errors.New("client: unexpected HTTP status")

	// ErrContentType is yielded by [Conn.Events], wrapped with the URL and
	// the Content-Type received, when a 200 response is not
	// text/event-stream. The source fails for good, as in a browser.
	ErrContentType = errors.New("client: response is not text/event-stream")

	// ErrNoEventID is returned by [Publish], wrapped with the URL and the
	// start of the answer, when a successful answer does not carry the
	// event's ID: the server is not a herald hub, or not the API's version.
	ErrNoEventID = errors.New("client: the answer has no event ID")
)

// StatusError is the error [Conn.Events] yields and [Publish] returns when
// the server answers with a status that means failure. It wraps
// [ErrBadStatus]; use [errors.As] to read the status.
type StatusError struct {
	// Method is the request's method: GET for a stream, POST for a
	// publish. Empty means GET.
	Method string
	// URL is the URL requested, its password and the value of an
	// access_token query parameter replaced, so the error can be logged.
	URL string
	// StatusCode is the HTTP status code, such as 503.
	StatusCode int
	// Status is the status line's text, such as "503 Service Unavailable".
	Status string
	// Message is the server's explanation, when it gave one: the "error"
	// member of a JSON body (as herald's API sends), or the start of a
	// text body, on one line. It may be empty.
	Message string
}

// Error returns "client: <method> <url>: <status>: <message>".
func (e *StatusError) Error() string {
	method := e.Method
	if method == "" {
		method = http.MethodGet
	}
	s := fmt.Sprintf("client: %s %s: %s", method, e.URL, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns [ErrBadStatus].
func (e *StatusError) Unwrap() error { return ErrBadStatus }

// statusError describes a response that means failure, with the
// explanation its body gives, read up to 4 KiB.
func statusError(method, url string, resp *http.Response) *StatusError {
	e := &StatusError{Method: method, URL: url, StatusCode: resp.StatusCode, Status: resp.Status}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var msg string
	switch ct := mediaType(resp); {
	case ct == "application/json" || strings.HasSuffix(ct, "+json"):
		var v api.Error
		if json.Unmarshal(body, &v) == nil {
			msg = v.Error
		}
	case strings.HasPrefix(ct, "text/") && ct != "text/html":
		msg = string(body)
	}
	e.Message = oneLine(msg, 200)
	return e
}

// mediaType returns the essence of resp's Content-Type, in lower case.
func mediaType(resp *http.Response) string {
	ct, _, _ := strings.Cut(resp.Header.Get("Content-Type"), ";")
	return strings.ToLower(strings.TrimSpace(ct))
}

// oneLine turns s into one line of at most n runes, control characters
// (line ends included) replaced by spaces, so a server's text cannot
// garble a terminal.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}
