// Package server is herald's HTTP API over a [hub.Hub]: GET /events
// subscribes to topics as an event stream, POST /events publishes, and
// /healthz and /readyz report liveness and readiness, and /metrics serves
// Prometheus metrics (docs/metrics.md). Every error is JSON,
// {"error": "..."}, with a 4xx or 5xx status; a stream that cannot be
// opened is never a 200.
//
// With [Options.Auth] set, requests need a JWT whose herald claims allow
// their topics (401 or 403 otherwise, with an RFC 6750 challenge), and a
// stream ends when its token expires; [Options.CORS] lists the origins
// browsers may call the API from. docs/auth.md explains the choices.
package server
