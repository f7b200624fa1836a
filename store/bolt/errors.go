package bolt

import "errors"

// ErrCorrupt is returned by [Open] and [Log.Read] when the file holds
// something this package did not write:
// a value or key it cannot decode, a missing bucket, or a format version it
// does not know. The file is left as it is.
var ErrCorrupt = errors.New("bolt: file is not a herald log or is corrupt")
