package redis

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/heraldsse/herald/presence"
)

// keys names the Redis keys of one prefix. Every key starts with the prefix
// in braces, a hash tag, so that all of them hash to one slot and a script
// may touch several (Redis Cluster).
type keys struct{ tag string } // "{prefix}"

func newKeys(prefix string) keys { return keys{tag: "{" + prefix + "}"} }

// nodes is the set of the IDs of registered nodes.
func (k keys) nodes() string { return k.tag + ":nodes" }

// alive is a node's liveness key: a string with a TTL.
func (k keys) alive(node string) string { return k.tag + ":alive:" + node }

// subs is a node's hash: subscriber ID → encoded record.
func (k keys) subs(node string) string { return k.tag + ":subs:" + node }

// reaper names the node reaping a dead node, while it does.
func (k keys) reaper(node string) string { return k.tag + ":reaper:" + node }

// reaped names the node that reaped a node: a tombstone that tells the
// reaped node, should it come back, to report its records as restored.
func (k keys) reaped(node string) string { return k.tag + ":reaped:" + node }

// checkPrefix refuses a prefix that would break the hash tag.
func checkPrefix(p string) error {
	if strings.ContainsAny(p, "{}") {
		return fmt.Errorf("%w: key prefix %q has a brace", presence.ErrInvalid, p)
	}
	return nil
}

// record is a subscription as stored in its node's hash; the ID is the
// field and the node is in the key. Topics are [kind, value] pairs and the
// start is in Unix nanoseconds, to keep it short:
//
//	{"t":[["herald","chat/lobby"]],"s":1764158400123456789,"p":{"name":"ada"}}
type record struct {
	Topics  [][2]string     `json:"t"`
	Start   int64           `json:"s"`
	Payload json.RawMessage `json:"p,omitempty"`
}

// encode returns the hash value of s.
func encode(s *presence.Subscription) string {
	r := record{Topics: make([][2]string, len(s.Topics)), Start: s.Start.UnixNano(), Payload: s.Payload}
	for i, m := range s.Topics {
		r.Topics[i] = [2]string{string(m.Kind), m.Value}
	}
	b, err := json.Marshal(r)
	if err != nil {
		// Cannot happen: the payload was validated on Join.
		panic(fmt.Sprintf("presence/redis: encode %q: %v", s.ID, err))
	}
	return string(b)
}

// decode returns the subscription id of node stored as value. A value
// that does not decode to a valid record gives an error wrapping
// [ErrCorrupt], with the ID and node filled in.
func decode(node, id, value string) (presence.Subscription, error) {
	s := presence.Subscription{ID: id, Node: node}
	var r record
	if err := json.Unmarshal([]byte(value), &r); err != nil {
		return s, fmt.Errorf("%w: node %q, subscriber %q: %w", ErrCorrupt, node, id, err)
	}
	if r.Start <= 0 {
		return s, fmt.Errorf("%w: node %q, subscriber %q: no start time", ErrCorrupt, node, id)
	}
	s.Topics = make([]presence.Matcher, len(r.Topics))
	for i, t := range r.Topics {
		s.Topics[i] = presence.Matcher{Kind: presence.Kind(t[0]), Value: t[1]}
	}
	s.Start = time.Unix(0, r.Start)
	s.Payload = r.Payload
	if err := s.Validate(); err != nil {
		return presence.Subscription{ID: id, Node: node}, fmt.Errorf("%w: node %q: %w", ErrCorrupt, node, err)
	}
	return s, nil
}
