package hub

import (
	"errors"

	"github.com/heraldsse/herald/internal/topic"
)

var (
	// ErrClosed is returned by Publish and Subscribe after Close has been
	// called, and is the error of every subscription the closing hub ended.
	ErrClosed = errors.New("hub: closed")

	// ErrSlowSubscriber is the error of a subscription whose queue filled up
	// because its reader did not keep pace. The hub disconnected it; the
	// client resumes from history when it reconnects with its last event ID.
	ErrSlowSubscriber = errors.New("hub: subscriber too slow")

	// ErrInvalidTopic is returned when a topic or pattern is malformed: empty,
	// too long, with an empty segment, a control character, or a misplaced
	// wildcard. It is the topic validator's own error, so a message names
	// the topic and the reason once: hub: invalid topic "a//b": empty
	// segment.
	ErrInvalidTopic = topic.ErrInvalid

	// ErrInvalidMessage is returned by Publish when the message cannot be
	// sent as an event: a type with CR or LF, a reserved "herald:" type, or
	// a negative retry.
	ErrInvalidMessage = errors.New("hub: invalid message")

	// ErrTooLarge is returned by Publish when the data is larger than
	// Options.MaxDataSize.
	ErrTooLarge = errors.New("hub: data too large")

	// ErrTooManyTopics is returned by Subscribe when a request names more
	// patterns than Options.MaxTopics, or none.
	ErrTooManyTopics = errors.New("hub: too many topics")

	// ErrOverrun is the error of every subscription open when the hub fell
	// so far behind its log that events were evicted before it could hand
	// them out. Clients reconnect with their last event ID and get what
	// history still holds, after a herald:gap event if some is gone.
	ErrOverrun = errors.New("hub: fell behind the log")

	// ErrUnsubscribed is the error of a subscription ended by its own Close
	// or by the end of the context it was made with.
	ErrUnsubscribed = errors.New("hub: unsubscribed")

	// ErrUnavailable is in the chain of an error from Publish or Subscribe
	// when the hub's log could not be reached (the log's error wraps
	// store.ErrUnavailable) or was closed under the hub (store.ErrClosed).
	// The event was not stored, or not known to be; the caller may retry.
	ErrUnavailable = errors.New("hub: log unavailable")

	// ErrBusy is in the chain of an error from Publish when the log had no
	// room for the event before the context ended: subscribers' dispatch is
	// behind, and the log pushes back rather than overrun it. The event was
	// not stored; the caller may retry shortly.
	ErrBusy = errors.New("hub: busy: dispatch is behind")
)
