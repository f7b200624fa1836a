package redis

// WithExactTrim returns opts trimming to exactly MaxLen and MaxAge, so
// tests can check the retention bounds exactly.
func WithExactTrim(opts Options) Options {
	opts.exactTrim = true
	return opts
}
