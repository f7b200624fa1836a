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

// PublishBatchResponse is the body of a successful batch publish (201
// Created): POST /events with a JSON array of [PublishRequest] (1 to 256),
// published in order. IDs are the events' IDs in the order of the request.
type PublishBatchResponse struct {
	IDs []string `json:"ids"`
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

// PresencePath is the path of the presence API: GET lists the subscribers
// of a topic or pattern (docs/presence.md).
const PresencePath = "/presence"

// Presence events: a subscription that joins or leaves is announced on
// PresencePrefix and each of its topics or patterns, with an event of type
// TypeJoin or TypeLeave whose data is a [Subscriber].
const (
	PresencePrefix = "presence/"
	TypeJoin       = "herald:join"
	TypeLeave      = "herald:leave"
)

// Subscriber is one subscription (one connection) as the presence API
// shows it: in the answer of GET /presence and as the data of a
// herald:join or herald:leave event.
type Subscriber struct {
	// ID is the subscriber ID the hub generated for the connection.
	ID string `json:"id"`
	// Topics are the topics and patterns of the subscription that the
	// question covers: for GET /presence, those the asked pattern covers;
	// for an event, the one it was published for.
	Topics []string `json:"topics"`
	// Node is the ID of the node serving the connection.
	Node string `json:"node"`
	// Start is when the subscription began, RFC 3339 with nanoseconds.
	Start string `json:"start"`
	// Payload is the payload claim of the subscriber's token, or with auth
	// off the payload parameter it subscribed with; null when none.
	Payload json.RawMessage `json:"payload"`
}

// PresenceList is the answer of GET /presence.
type PresenceList struct {
	// Topic is the topic or pattern asked about.
	Topic string `json:"topic"`
	// Count is how many subscriptions, on every node, have a topic or
	// pattern it covers.
	Count int `json:"count"`
	// Subscribers is one page of them, ordered by ID.
	Subscribers []Subscriber `json:"subscribers"`
	// Next is the ID to pass as after for the next page; empty on the
	// last page.
	Next string `json:"next,omitempty"`
}
