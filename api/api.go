// Package api holds the JSON shapes of herald's HTTP API, so that the
// server that answers and the clients that ask (package client, the herald
// command) read and write one definition: the body of a publish, its
// answer, and the body of every error. It imports nothing of herald's.
//
// The API itself (routes, statuses, parameters) is described in README.md
// and docs/; this package says what its bodies hold.
package api

import (
	"encoding/json"
	"net/url"
)

// EventsPath is the path of the hub's event API: GET subscribes, POST
// publishes. A hub's address without a path (http://localhost:8080) means
// this path.
const EventsPath = "/events"

// TokenParam is the query parameter a browser's EventSource, which cannot
// set headers, passes a token in. Its value is a secret: see [RedactURL].
const TokenParam = "access_token"

// PublishRequest is the JSON body of a publish, POST /events. A form with
// the same fields (retry in milliseconds) is accepted too.
type PublishRequest struct {
	// Topic is the topic to publish on, such as "chat/lobby". Required.
	Topic string `json:"topic"`
	// Type is the event type; empty means "message". Types starting with
	// "herald:" belong to the hub.
	Type string `json:"type,omitempty"`
	// Data is the event's data as any JSON value: a string reaches
	// subscribers as it is, any other value as compact JSON; absent or null
	// sends empty data. [Text] makes a string's.
	Data json.RawMessage `json:"data,omitempty"`
	// Retry, in milliseconds, asks subscribers to wait this long before
	// reconnecting; zero sends no hint. At most 86,400,000 (a day).
	Retry int64 `json:"retry,omitempty"`
}

// Text returns s as the Data of a [PublishRequest]: subscribers receive s
// exactly (JSON holds UTF-8 only: an invalid byte becomes U+FFFD).
func Text(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

// PublishResponse is the body of a successful publish (201 Created).
type PublishResponse struct {
	// ID is the event's ID, which a subscriber resumes after with
	// Last-Event-ID.
	ID string `json:"id"`
}

// Error is the body of every error the API answers (a 4xx or 5xx
// status).
type Error struct {
	// Error says what went wrong, on one line.
	Error string `json:"error"`
}

// RedactURL returns u as text for logs and error messages: without its
// password, and with the value of a [TokenParam] query parameter replaced
// by REDACTED.
func RedactURL(u *url.URL) string {
	if q := u.Query(); q.Has(TokenParam) {
		v := *u
		q.Set(TokenParam, "REDACTED")
		v.RawQuery = q.Encode()
		u = &v
	}
	return u.Redacted()
}
