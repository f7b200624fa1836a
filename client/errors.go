package client

import (
	"errors"
	"fmt"
)

var (
	// ErrInvalidURL is returned by [New] when the URL is not an absolute
	// http or https URL.
	ErrInvalidURL = errors.New("client: URL is not an absolute http or https URL")

	// ErrBadStatus is wrapped by [StatusError], the error [Conn.Events]
	// yields when the server answers with a status other than 200 OK or
	// 204 No Content. The source fails for good: a browser does not
	// reconnect either.
	ErrBadStatus = errors.New("client: HTTP status is not 200 OK")

	// ErrContentType is yielded by [Conn.Events], wrapped with the URL and
	// the Content-Type received, when a 200 response is not
	// text/event-stream. The source fails for good, as in a browser.
	ErrContentType = errors.New("client: response is not text/event-stream")
)

// StatusError is the error [Conn.Events] yields when the server answers
// with a status other than 200 OK or 204 No Content. It wraps
// [ErrBadStatus]; use [errors.As] to read the status.
type StatusError struct {
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

// Error returns "client: GET <url>: <status>: <message>".
func (e *StatusError) Error() string {
	s := fmt.Sprintf("client: GET %s: %s", e.URL, e.Status)
	if e.Message != "" {
		s += ": " + e.Message
	}
	return s
}

// Unwrap returns [ErrBadStatus].
func (e *StatusError) Unwrap() error { return ErrBadStatus }
