package apps

import "errors"

// ErrInvalidOptions is returned by [New] when a field of [Options] is out of
// range, such as a negative interval, or Hub is nil.
var ErrInvalidOptions = errors.New("apps: invalid options")

// errUnknownTask is answered when a task ID names no task the hub's history
// holds: it never existed, or its states have been evicted.
var errUnknownTask = errors.New("unknown or expired task")
