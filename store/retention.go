package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldsse/herald/internal/topic"
)

const (
	// DefaultMaxEntries is how many events the default policy keeps when
	// Retention.MaxEntries is zero.
	DefaultMaxEntries = 10_000

	// DefaultMaxAge is how long a policy keeps an event when its MaxAge
	// and Retention.MaxAge are zero.
	DefaultMaxAge = time.Hour

	// defaultPattern is the default policy's pattern: every topic.
	defaultPattern = "**"
)

// Policy is how much history the topics one pattern matches keep.
type Policy struct {
	// Pattern is a topic pattern ("stocks/**", "chat/*", "tasks/42"): the
	// policy keeps the events of the topics it matches, unless an earlier
	// policy matches them first.
	Pattern string

	// MaxEntries is how many of those events are kept: appending more
	// evicts the oldest. Zero keeps none: those topics are live only, and
	// a client that resumes across one of their events is told it lost
	// some. Negative is invalid.
	MaxEntries int

	// MaxAge is how long an event is kept after it was appended. Zero means
	// the Retention's MaxAge; negative means no bound by age.
	MaxAge time.Duration
}

// Retention is a log's history policies: the first whose pattern matches
// an event's topic keeps the event, and topics that none matches share the
// default policy (MaxEntries, MaxAge). A policy's events are evicted only
// by its own bounds, so a noisy topic evicts its own past, never another
// policy's; IDs stay one order across policies. The zero Retention is one
// default policy of 10,000 events for an hour.
type Retention struct {
	// Policies are matched in order; the first match wins. Each pattern
	// appears once.
	Policies []Policy

	// MaxEntries is how many events the default policy keeps. Zero means
	// DefaultMaxEntries; negative is invalid. (To keep no history for the
	// topics no pattern matches, end Policies with {"**", 0, 0}.)
	MaxEntries int

	// MaxAge is how long the default policy keeps an event, and every
	// policy whose MaxAge is zero. Zero means DefaultMaxAge; negative
	// means no bound by age.
	MaxAge time.Duration
}

// Validate reports whether r is usable: every pattern valid and given
// once, no size negative. Its error wraps [ErrInvalidPolicy] and names the
// policy.
func (r Retention) Validate() error {
	if r.MaxEntries < 0 {
		return fmt.Errorf("%w: the default keeps %d events, which is negative", ErrInvalidPolicy, r.MaxEntries)
	}
	seen := make(map[string]bool, len(r.Policies))
	var errs []error
	for i, p := range r.Policies {
		what := fmt.Sprintf("policy %d (%.64q)", i+1, p.Pattern)
		switch err := topic.ValidatePattern(p.Pattern); {
		case err != nil:
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrInvalidPolicy, what, err))
		case seen[p.Pattern]:
			errs = append(errs, fmt.Errorf("%w: %s: the pattern is given twice", ErrInvalidPolicy, what))
		case p.MaxEntries < 0:
			errs = append(errs, fmt.Errorf("%w: %s keeps %d events, which is negative", ErrInvalidPolicy, what, p.MaxEntries))
		}
		seen[p.Pattern] = true
	}
	return errors.Join(errs...)
}

// Resolved returns r's policies in the order they are matched, every bound
// final: the configured ones, then the default with the pattern "**".
// MaxAge is positive, or negative for no bound by age; MaxEntries is zero
// or more. Stores call it once, after [Retention.Validate] succeeded.
func (r Retention) Resolved() []Policy {
	age := r.MaxAge
	if age == 0 {
		age = DefaultMaxAge
	}
	out := make([]Policy, 0, len(r.Policies)+1)
	for _, p := range r.Policies {
		if p.MaxAge == 0 {
			p.MaxAge = age
		}
		out = append(out, p)
	}
	size := r.MaxEntries
	if size == 0 {
		size = DefaultMaxEntries
	}
	return append(out, Policy{Pattern: defaultPattern, MaxEntries: size, MaxAge: age})
}

// PolicyFor returns the index, in [Retention.Resolved], of the policy that
// keeps events on topic: the first whose pattern matches it, else the
// default (the last).
func (r Retention) PolicyFor(t string) int {
	for i, p := range r.Policies {
		if topic.Match(p.Pattern, t) {
			return i
		}
	}
	return len(r.Policies)
}

// Holding returns the indexes, in [Retention.Resolved], of the policies
// that can keep events for a subscription to patterns: those that some
// topic matching one of patterns reaches first. It is exact (see
// topic.Common): with "chat/**" before the default, a subscription to
// "chat/lobby" is held by "chat/**" alone, so the default evicting the
// stock ticker's events is no loss to it.
func (r Retention) Holding(patterns []string) []int {
	holds := make([]bool, len(r.Policies)+1)
	var wild []string
	for _, q := range patterns {
		if topic.IsPattern(q) {
			wild = append(wild, q)
		} else {
			holds[r.PolicyFor(q)] = true // a topic has one policy
		}
	}
	if len(wild) > 0 {
		resolved := make([]string, 0, len(r.Policies)+1)
		for _, p := range r.Policies {
			resolved = append(resolved, p.Pattern)
		}
		resolved = append(resolved, defaultPattern)
		for i, p := range resolved {
			for _, q := range wild {
				if holds[i] {
					break
				}
				_, holds[i] = topic.Common([]string{q, p}, resolved[:i])
			}
		}
	}
	var out []int
	for i, h := range holds {
		if h {
			out = append(out, i)
		}
	}
	return out
}

// Check reports whether q can be read: at least one pattern, each valid.
// Its error wraps [ErrInvalidQuery].
func (q Query) Check() error {
	if len(q.Patterns) == 0 {
		return fmt.Errorf("%w: no pattern", ErrInvalidQuery)
	}
	for _, p := range q.Patterns {
		if err := topic.ValidatePattern(p); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidQuery, err)
		}
	}
	return nil
}

// CheckRead is what every Log's Read checks before reading, in this order:
// q (an error wrapping [ErrInvalidQuery]), ctx (ctx.Err()) and whether the
// log is closed ([ErrClosed]).
func CheckRead(ctx context.Context, q Query, closed bool) error {
	if err := q.Check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if closed {
		return ErrClosed
	}
	return nil
}

// Matches reports whether an event on topic t matches one of q's patterns.
func (q Query) Matches(t string) bool {
	for _, p := range q.Patterns {
		if topic.Match(p, t) {
			return true
		}
	}
	return false
}

// MatchesAny reports whether an event on topic t, also published on also,
// matches one of q's patterns.
func (q Query) MatchesAny(t string, also []string) bool {
	if q.Matches(t) {
		return true
	}
	for _, a := range also {
		if q.Matches(a) {
			return true
		}
	}
	return false
}

// Limit returns the most entries one page of q holds: q.Max, or 64 when
// it is zero or negative.
func (q Query) Limit() int {
	if q.Max <= 0 {
		return defaultPageSize
	}
	return q.Max
}

// defaultPageSize is Query.Max when it is zero.
const defaultPageSize = 64
