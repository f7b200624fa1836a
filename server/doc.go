// Package server is herald's HTTP API over a [hub.Hub]: GET /events
// subscribes to topics as an event stream, POST /events publishes, and
// /healthz and /readyz report liveness and readiness. Every error is JSON,
// {"error": "..."}, with a 4xx or 5xx status; a stream that cannot be
// opened is never a 200.
package server
