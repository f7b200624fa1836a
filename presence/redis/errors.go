package redis

import "errors"

// ErrCorrupt wraps a record in Redis that this package cannot decode:
// written by something else, or damaged. [Registry.List] yields it with the
// record's ID and node and goes on.
var ErrCorrupt = errors.New("presence/redis: corrupt record")

// errReaping says this node cannot register again yet: another node is
// reaping its old records. The write loop retries.
var errReaping = errors.New("presence/redis: another node is reaping this node's records")

// errLost says this node's liveness key was gone during a write: the node
// registers again.
var errLost = errors.New("presence/redis: this node's liveness key is gone")
