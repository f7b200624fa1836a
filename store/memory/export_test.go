package memory

import "time"

// Kept returns the sequence numbers of the oldest and newest entries kept,
// without evicting anything (oldest is newest+1 when none is kept).
func (l *Log) Kept() (oldest, newest uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.oldest, l.head
}

// Followers returns how many Follow iterations are running.
func (l *Log) Followers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.followers.Len()
}

// WithClock returns opts with the clock now, which sets the epoch, each
// entry's Time and the age of entries.
func WithClock(opts Options, now func() time.Time) Options {
	opts.now = now
	return opts
}
