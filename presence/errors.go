package presence

import "errors"

var (
	// ErrInvalid wraps a refusal of bad input: a subscription without an ID
	// or without topics, an unknown matcher kind, a payload that is not
	// JSON, a node ID with characters a key cannot hold.
	ErrInvalid = errors.New("presence: invalid")

	// ErrDuplicate is returned by Join for a subscriber ID this node has
	// registered already and not yet removed.
	ErrDuplicate = errors.New("presence: duplicate subscriber id")

	// ErrNotFound is returned by Get for a subscriber ID no live
	// subscription has.
	ErrNotFound = errors.New("presence: subscription not found")

	// ErrClosed is returned by every method of a registry after Close.
	ErrClosed = errors.New("presence: closed")
)
