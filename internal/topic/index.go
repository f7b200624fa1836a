package topic

import "strings"

// Index maps patterns to sets of values and finds every value registered
// under a pattern that matches a topic. Exact topics are found through a
// map and wildcard patterns through a trie of segments, so a lookup never
// scans all registrations. The zero Index is empty and ready to use; it is
// not safe for concurrent use.
type Index[V comparable] struct {
	exact map[string]map[V]struct{}
	root  node[V]
	n     int
}

type node[V comparable] struct {
	children map[string]*node[V] // literal segments, and "*"
	here     map[V]struct{}      // patterns ending at this node
	rest     map[V]struct{}      // patterns ending with "**" below this node
}

// Len returns the number of (pattern, value) registrations.
func (x *Index[V]) Len() int { return x.n }

// Add registers v under the valid pattern p. Adding the same pair twice
// registers it once.
func (x *Index[V]) Add(p string, v V) {
	var set map[V]struct{}
	if IsPattern(p) {
		end := x.root.walk(p, true)
		if *end == nil {
			*end = make(map[V]struct{}, 1)
		}
		set = *end
	} else {
		if x.exact == nil {
			x.exact = make(map[string]map[V]struct{})
		}
		if set = x.exact[p]; set == nil {
			set = make(map[V]struct{}, 1)
			x.exact[p] = set
		}
	}
	if _, ok := set[v]; !ok {
		set[v] = struct{}{}
		x.n++
	}
}

// Remove removes v from under pattern p, if it is there.
func (x *Index[V]) Remove(p string, v V) {
	if !IsPattern(p) {
		if m, ok := x.exact[p]; ok {
			if _, ok := m[v]; ok {
				delete(m, v)
				x.n--
			}
			if len(m) == 0 {
				delete(x.exact, p)
			}
		}
		return
	}
	if set := x.root.walk(p, false); set != nil {
		if _, ok := (*set)[v]; ok {
			delete(*set, v)
			x.n--
		}
	}
	x.root.prune(p)
}

// walk returns the set at the end of pattern p, creating nodes if create is
// set; nil when absent.
func (n *node[V]) walk(p string, create bool) *map[V]struct{} {
	for {
		seg, rest, more := strings.Cut(p, "/")
		if seg == "**" {
			return &n.rest
		}
		child := n.children[seg]
		if child == nil {
			if !create {
				return nil
			}
			if n.children == nil {
				n.children = make(map[string]*node[V])
			}
			child = &node[V]{}
			n.children[seg] = child
		}
		n = child
		if !more {
			return &n.here
		}
		p = rest
	}
}

// prune removes empty nodes along p. It reports whether n is now empty.
func (n *node[V]) prune(p string) bool {
	seg, rest, more := strings.Cut(p, "/")
	if seg != "**" {
		if child := n.children[seg]; child != nil {
			var empty bool
			if more {
				empty = child.prune(rest)
			} else {
				empty = len(child.here) == 0 && len(child.rest) == 0 && len(child.children) == 0
			}
			if empty {
				delete(n.children, seg)
			}
		}
	}
	return len(n.here) == 0 && len(n.rest) == 0 && len(n.children) == 0
}

// Match calls fn for each value registered under a pattern matching the
// valid topic t. A value registered under several matching patterns is
// passed once for each; callers that need each value once deduplicate.
func (x *Index[V]) Match(t string, fn func(V)) {
	for v := range x.exact[t] {
		fn(v)
	}
	if len(x.root.children) > 0 || len(x.root.rest) > 0 {
		x.root.match(t, fn)
	}
}

func (n *node[V]) match(t string, fn func(V)) {
	for v := range n.rest {
		fn(v)
	}
	seg, rest, more := strings.Cut(t, "/")
	for _, key := range [2]string{seg, "*"} {
		child := n.children[key]
		if child == nil {
			continue
		}
		if more {
			child.match(rest, fn)
		} else {
			for v := range child.here {
				fn(v)
			}
		}
	}
}
