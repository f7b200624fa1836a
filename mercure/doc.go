// Package mercure implements the protocol side of a Mercure hub, as the
// Internet-Draft draft-dunglas-mercure ("The Mercure Protocol") defines it:
// everything a hub must do that does not depend on how updates are stored
// and dispatched.
//
//   - Publication: [Handler.ParsePublish] reads a publish request (a form of
//     topic, data, private, id, type and retry fields) into an [Update],
//     rejecting what the draft rejects with its status codes, the reserved
//     hub namespace included ([HubURL.Reserved]). [Update.AppendEvent]
//     writes an update as one Server-Sent Event through [sse.AppendEvent].
//   - Subscription: [Handler.ParseSubscribe] reads the match, match_exact
//     and match_urlpattern parameters of a subscribe request, from its query
//     and, for the QUERY method, its form body, into a [Selector], and the
//     reconnection cursor (the Last-Event-ID header or the last_event_id
//     parameter).
//   - Matching: a [Selector] answers whether an update's topics match: exact
//     matchers through a map, URL patterns (WHATWG URL Pattern) compiled once
//     and shared between subscribers through a bounded cache. A [Target]
//     prepares one update's topics for matching against many selectors.
//   - Authorization: [Handler.Authenticate] verifies a JWT access token from
//     the Authorization header or the cookie, with an explicit algorithm
//     allowlist, and returns a [Token] whose authorization_details grant the
//     publish and subscribe actions on topic matchers.
//   - Discovery: the protected resource metadata document (RFC 9728) and
//     [Link], the rel="mercure" Link header value an application sends.
//   - [Handler] serves the hub URL and the metadata URL: it parses,
//     authorizes and answers every refusal, and calls a [Hub] for the rest.
//
// The package does not implement [Hub]: herald's hub does. docs/mercure.md
// lists which requirement of the draft is met where, the limits, and the
// choices made where the draft leaves one.
package mercure
