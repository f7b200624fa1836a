package hub

import (
	"errors"

	"github.com/heraldsse/herald/store"
)

// logError marks err, an error of the hub's log, with the hub's sentinel a
// caller acts on: [ErrUnavailable] when the log could not be reached or was
// closed, [ErrBusy] when it had no room before the publisher's context
// ended. The message stays the log's.
func logError(err error) error {
	switch {
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrClosed):
		return markedError{err, ErrUnavailable}
	case errors.Is(err, store.ErrBusy):
		return markedError{err, ErrBusy}
	}
	return err
}

// markedError is an error of the hub's log that is also one of the hub's
// sentinels.
type markedError struct {
	error
	mark error
}

func (e markedError) Is(target error) bool { return target == e.mark }
func (e markedError) Unwrap() error        { return e.error }
