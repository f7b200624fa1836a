package sse

import "errors"

var (
	// ErrInvalidID is returned when an event ID contains CR, LF or NUL: CR and LF
	// would end the field early, and a browser ignores an ID that holds NUL.
	ErrInvalidID = errors.New("sse: event id contains CR, LF or NUL")

	// ErrInvalidType is returned when an event type contains CR or LF.
	ErrInvalidType = errors.New("sse: event type contains CR or LF")

	// ErrInvalidRetry is returned when an event's Retry is negative.
	ErrInvalidRetry = errors.New("sse: negative retry")

	// ErrTooLarge is returned by [Decoder.Next] when a line or an event's data
	// grows past the decoder's maximum size.
	ErrTooLarge = errors.New("sse: event too large")

	// ErrClosed is returned by [Stream.Send] and [Stream.Comment] after the
	// stream was closed, or once the request's context has ended.
	ErrClosed = errors.New("sse: stream closed")
)
