package conn

import "errors"

var (
	// ErrClosed ends a stream handed to an engine that is closing: Serve
	// after Close closes the connection at once and reports it.
	ErrClosed = errors.New("conn: engine closed")

	// ErrClientGone ends a source whose client closed its connection, or
	// sent more than a few KiB after its request.
	ErrClientGone = errors.New("conn: client gone")

	// ErrSlowClient ends a source whose client stopped reading: a write
	// waited longer than Options.WriteTimeout.
	ErrSlowClient = errors.New("conn: client too slow")

	// ErrWriteFailed ends a source whose connection failed a write; it
	// wraps the write's error.
	ErrWriteFailed = errors.New("conn: write failed")
)
