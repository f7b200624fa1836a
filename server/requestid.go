package server

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
)

// RequestIDHeader is the header that carries a request's ID, in both
// directions: see [RequestID].
const RequestIDHeader = "X-Request-ID"

// maxRequestIDLen is the longest incoming request ID [RequestID] accepts.
const maxRequestIDLen = 64

// loggerKey is the context key under which [RequestID] stores a request's
// logger.
type loggerKey struct{}

// RequestID wraps next so that every request carries an ID: the incoming
// X-Request-ID header if it is at most 64 characters of [A-Za-z0-9._-],
// else a new random one. The ID is set on the response's X-Request-ID
// header, and the request's context carries logger with a request_id
// attribute, which the [Server] logs through, so each of its lines names
// the request. A nil logger discards. The handler is safe for concurrent
// use.
func RequestID(next http.Handler, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(RequestIDHeader)
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		ctx := context.WithValue(r.Context(), loggerKey{}, logger.With("request_id", id))
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// validRequestID reports whether id is 1 to 64 characters of
// [A-Za-z0-9._-].
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		switch c := id[i]; {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// newRequestID returns 16 random hex digits.
func newRequestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return hex.EncodeToString(b[:])
}

// logger returns the logger for r's lines: the one [RequestID] stored in
// its context, else Options.Logger.
func (s *Server) logger(r *http.Request) *slog.Logger {
	if l, ok := r.Context().Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return s.opts.Logger
}
