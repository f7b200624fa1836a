package mercure

import (
	"container/list"
	"errors"
	"fmt"
	"sync"

	"github.com/dunglas/go-urlpattern"
)

// Matcher types (draft-dunglas-mercure, "Matcher Types").
const (
	// MatchExact compares a topic with the matcher byte for byte.
	MatchExact = "exact"
	// MatchURLPattern evaluates the matcher as a WHATWG URL Pattern against
	// the topic, both resolved against the hub URL.
	MatchURLPattern = "urlpattern"
)

// Wildcard is the reserved matcher value that matches every topic, whatever
// the matcher type.
const Wildcard = "*"

// Matcher is one topic matcher as a client gave it: its type and its value.
type Matcher struct {
	// Type is MatchExact or MatchURLPattern.
	Type string
	// Value is the matcher itself: a topic, a URL pattern, or [Wildcard].
	Value string
}

// matchSet is a compiled list of matchers: it matches a topic when any of
// them does. It is immutable once built.
type matchSet struct {
	all      bool
	exact    map[string]struct{}
	patterns []*pattern // deduplicated by source
}

// add compiles m into s; c compiles URL patterns. The value must already
// have passed checkText and the length limit.
func (s *matchSet) add(c *compiler, m Matcher) error {
	if m.Value == Wildcard {
		s.all = true
		return nil
	}
	switch m.Type {
	case MatchExact:
		if s.exact == nil {
			s.exact = make(map[string]struct{})
		}
		s.exact[m.Value] = struct{}{}
	case MatchURLPattern:
		p, err := c.pattern(m.Value)
		if err != nil {
			return err
		}
		for _, q := range s.patterns {
			if q == p || q.source == p.source {
				return nil
			}
		}
		s.patterns = append(s.patterns, p)
	default:
		return fmt.Errorf("unsupported matcher type %q", m.Type)
	}
	return nil
}

// matchesAny reports whether some matcher of s matches some topic of t.
func (s *matchSet) matchesAny(t *Target) bool {
	if s.all {
		return true
	}
	if len(s.exact) > 0 {
		for _, topic := range t.topics {
			if _, ok := s.exact[topic]; ok {
				return true
			}
		}
	}
	for _, p := range s.patterns {
		if t.anyMatches(p) {
			return true
		}
	}
	return false
}

// matches reports whether some matcher of s matches topic i of t.
func (s *matchSet) matches(t *Target, i int) bool {
	if s.all {
		return true
	}
	if _, ok := s.exact[t.topics[i]]; ok {
		return true
	}
	for _, p := range s.patterns {
		if p.test(t, i) {
			return true
		}
	}
	return false
}

// Selector is a subscriber's compiled topic matchers: it selects the updates
// having at least one topic that at least one matcher matches. It is
// immutable and safe for concurrent use.
type Selector struct {
	matchers []Matcher
	set      matchSet
}

// Matchers returns the matchers the selector was built from, in request
// order, duplicates included: each is one subscription.
func (s *Selector) Matchers() []Matcher { return s.matchers }

// Matches reports whether an update with the topics of t is selected.
func (s *Selector) Matches(t *Target) bool { return s.set.matchesAny(t) }

// Match reports whether an update with these topics is selected. To test
// one update against many selectors, build one [Target] and call Matches.
func (s *Selector) Match(topics ...string) bool { return s.set.matchesAny(NewTarget(topics)) }

// Target is one update's topics, prepared for matching against many
// selectors and tokens: each topic is resolved against the hub URL at most
// once, and each distinct compiled URL pattern (patterns are shared between
// subscribers through the hub's cache) is evaluated at most once. A Target
// is not safe for concurrent use: a goroutine dispatching an update makes
// its own.
type Target struct {
	topics   []string
	resolved []string // absolute URL of each topic; "" when it cannot be parsed
	hub      *HubURL  // the hub the topics were resolved against
	memo     map[*pattern]bool
}

// NewTarget prepares topics (an update's canonical topic first, then its
// alternates) for matching. It does not copy the slice.
func NewTarget(topics []string) *Target { return &Target{topics: topics} }

// Topics returns the topics t was built from.
func (t *Target) Topics() []string { return t.topics }

// href returns topic i resolved against hub, and false when it is not a URL
// reference: the draft has such a topic match no URL pattern.
func (t *Target) href(hub *HubURL, i int) (string, bool) {
	if t.hub != hub {
		t.hub = hub
		t.resolved = make([]string, len(t.topics))
		for j, topic := range t.topics {
			if u, ok := hub.resolve(topic); ok {
				t.resolved[j] = u.Href(false)
			}
		}
	}
	return t.resolved[i], t.resolved[i] != ""
}

// anyMatches reports whether p matches some topic of t, once per pattern.
func (t *Target) anyMatches(p *pattern) bool {
	if v, ok := t.memo[p]; ok {
		return v
	}
	v := false
	for i := range t.topics {
		if p.test(t, i) {
			v = true
			break
		}
	}
	if t.memo == nil {
		t.memo = make(map[*pattern]bool)
	}
	t.memo[p] = v
	return v
}

// pattern is a compiled URL pattern. Immutable; safe for concurrent use
// (Go's regexp, which the URL pattern compiles to, is).
type pattern struct {
	source string
	hub    *HubURL
	p      *urlpattern.URLPattern
}

// test evaluates p against topic i of t. The topic is resolved against the
// hub URL first, as the draft requires, and matched as an absolute URL.
// The regular expressions are Go's (RE2): their matching time is linear in
// the topic's length, so one evaluation is bounded by the pattern and topic
// length limits (docs/mercure.md gives the measured worst case).
func (p *pattern) test(t *Target, i int) bool {
	href, ok := t.href(p.hub, i)
	return ok && p.p.Test(href, "")
}

// compiler compiles URL patterns against the hub URL and keeps the last
// max of them (and of the errors) in a least-recently-used cache, so that
// subscribers and tokens naming the same pattern share one compiled value.
// Safe for concurrent use.
type compiler struct {
	hub       *HubURL
	max       int
	maxLen    int
	maxGroups int

	mu    sync.Mutex
	order list.List // of *compiled, most recently used first
	byKey map[string]*list.Element
}

type compiled struct {
	source string
	p      *pattern
	err    error
}

func newCompiler(hub *HubURL, lim Limits) *compiler {
	return &compiler{hub: hub, max: lim.PatternCache, maxLen: lim.MaxURLPatternLength, maxGroups: lim.MaxPatternGroups, byKey: make(map[string]*list.Element)}
}

// pattern returns the compiled pattern for source, from the cache when it is
// there. Compiling happens outside the lock; when two callers compile the
// same source at once, the first to finish wins and both get its value.
func (c *compiler) pattern(source string) (*pattern, error) {
	if e := c.lookup(source); e != nil {
		return e.p, e.err
	}
	e := &compiled{source: source}
	if len(source) > c.maxLen {
		e.err = fmt.Errorf("is %d bytes long, over the URL pattern limit of %d", len(source), c.maxLen)
	} else if n := countGroups(source); n > c.maxGroups {
		e.err = fmt.Errorf("has %d groups or wildcards, over the limit of %d", n, c.maxGroups)
	} else if up, err := compilePattern(source, c.hub.href); err != nil {
		e.err = err
	} else {
		e.p = &pattern{source: source, hub: c.hub, p: up}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.byKey[source]; ok {
		c.order.MoveToFront(el)
		e = el.Value.(*compiled)
		return e.p, e.err
	}
	c.byKey[source] = c.order.PushFront(e)
	for c.order.Len() > c.max {
		old := c.order.Remove(c.order.Back()).(*compiled)
		delete(c.byKey, old.source)
	}
	return e.p, e.err
}

// countGroups counts, from above, the capturing parts of a URL pattern:
// every unescaped "*", "(", and ":" followed by a name character. Go's
// regexp matches in time linear in the topic, but the factor grows with the
// number of capture groups (each NFA thread copies its captures): a
// 2048-byte pattern of 1,000 wildcards takes seconds per topic. Bounding the
// groups bounds the factor (docs/mercure.md has the measurements). The
// count may include a ":" that is the scheme separator of "urn:x"; that
// only makes the bound stricter.
func countGroups(p string) int {
	n := 0
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\':
			i++
		case c == '*' || c == '(':
			n++
		case c == ':' && i+1 < len(p) && isNameStart(p[i+1]):
			n++
		}
	}
	return n
}

// isNameStart reports whether c can start a URL pattern group name (ASCII
// letters, "_" and "$", and every non-ASCII byte, from above).
func isNameStart(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '$' || c >= 0x80
}

// compilePattern compiles source with base for relative patterns. The
// library's error text is not passed on: it can hold a dump of its parser
// state, which has no place in an answer to a client. A panic in the
// library on some input counts as an invalid pattern rather than taking the
// request down.
func compilePattern(source, base string) (_ *urlpattern.URLPattern, err error) {
	defer func() {
		if recover() != nil {
			err = errInvalidPattern
		}
	}()
	p, err := urlpattern.New(source, base, nil)
	if err != nil {
		return nil, errInvalidPattern
	}
	return p, nil
}

var errInvalidPattern = errors.New("is not a valid URL pattern")

func (c *compiler) lookup(source string) *compiled {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[source]
	if !ok {
		return nil
	}
	c.order.MoveToFront(el)
	return el.Value.(*compiled)
}

// len returns how many compiled patterns the cache holds.
func (c *compiler) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
