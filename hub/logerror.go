package hub

import (
	"errors"

	"github.com/heraldsse/herald/store"
)

// logError marks err, an error of the hub's log, with [ErrUnavailable] when
// the log could not be reached or was closed. The message stays the log's.
func logError(err error) error {
	if errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrClosed) {
		return unavailableError{err}
	}
	return err
}

// unavailableError is an error of the hub's log that is also ErrUnavailable.
type unavailableError struct{ error }

func (e unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e unavailableError) Unwrap() error        { return e.error }
