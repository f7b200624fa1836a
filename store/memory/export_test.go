package memory

import "time"

// Held returns how many entries policy i (in the order of
// store.Retention.Resolved) holds, without evicting anything.
func (l *Log) Held(i int) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.histories[i]
	return int(h.count + 1 - h.oldest)
}

// Followers returns how many Follow iterations are running.
func (l *Log) Followers() int { return l.transport.Followers() }

// WithClock returns opts with the clock now, which sets the epoch, each
// entry's Time and the age of entries.
func WithClock(opts Options, now func() time.Time) Options {
	opts.now = now
	return opts
}
