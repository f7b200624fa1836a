package redis

import (
	"encoding/json"
	"fmt"
	"strconv"
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

// progress is how far the reaping of a dead node got: the HSCAN cursor
// after the pages reported.
func (k keys) progress(node string) string { return k.tag + ":progress:" + node }

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

// A record is a subscription as stored in its node's hash: the field is the
// subscriber ID, the node is in the key, and the value is a header line
// ("v1", the start in Unix nanoseconds, the number of matchers), one line
// per matcher (its kind and the length of its value) followed by the value
// and a newline, then the length of the payload on a line and the payload
// (none when 0). Lengths instead of escapes keep it readable with HGET and
// quick to decode, which bounds how long a reaping takes:
//
//	v1 1764158400123456789 2
//	herald 10
//	chat/lobby
//	urlpattern 29
//	https://example.com/books/:id
//	14
//	{"name":"ada"}
const recordVersion = "v1"

// encode returns the hash value of s.
func encode(s *presence.Subscription) string {
	n := len(recordVersion) + 40 + len(s.Payload)
	for _, m := range s.Topics {
		n += len(m.Kind) + len(m.Value) + 24
	}
	b := make([]byte, 0, n)
	b = append(b, recordVersion...)
	b = append(b, ' ')
	b = strconv.AppendInt(b, s.Start.UnixNano(), 10)
	b = append(b, ' ')
	b = strconv.AppendInt(b, int64(len(s.Topics)), 10)
	b = append(b, '\n')
	for _, m := range s.Topics {
		b = append(b, m.Kind...)
		b = append(b, ' ')
		b = strconv.AppendInt(b, int64(len(m.Value)), 10)
		b = append(b, '\n')
		b = append(b, m.Value...)
		b = append(b, '\n')
	}
	b = strconv.AppendInt(b, int64(len(s.Payload)), 10)
	b = append(b, '\n')
	b = append(b, s.Payload...)
	return string(b)
}

// decode returns the subscription id of node stored as value. A value
// that does not decode to a valid record gives an error wrapping
// [ErrCorrupt], with the ID and node filled in. The record's strings share
// value's memory.
func decode(node, id, value string) (presence.Subscription, error) {
	s := presence.Subscription{ID: id, Node: node}
	bad := func(format string, args ...any) (presence.Subscription, error) {
		return presence.Subscription{ID: id, Node: node},
			fmt.Errorf("%w: node %q, subscriber %q: %s", ErrCorrupt, node, id, fmt.Sprintf(format, args...))
	}
	line, rest, _ := strings.Cut(value, "\n")
	head := strings.Split(line, " ")
	if len(head) != 3 || head[0] != recordVersion {
		return bad("header %.40q is not %q, start, count", line, recordVersion)
	}
	start, err := strconv.ParseInt(head[1], 10, 64)
	if err != nil || start <= 0 {
		return bad("start %.24q", head[1])
	}
	s.Start = time.Unix(0, start)
	n, err := strconv.Atoi(head[2])
	if err != nil || n < 0 || n > len(rest)/4 { // a matcher takes 4 bytes at least
		return bad("matcher count %.24q", head[2])
	}
	s.Topics = make([]presence.Matcher, n)
	for i := range s.Topics {
		line, rest, _ = strings.Cut(rest, "\n")
		kind, size, _ := strings.Cut(line, " ")
		var v string
		if v, rest, err = cutLen(size, rest); err != nil {
			return bad("matcher %d: %v", i, err)
		}
		if len(rest) == 0 || rest[0] != '\n' {
			return bad("matcher %d: no newline after the value", i)
		}
		rest = rest[1:]
		s.Topics[i] = presence.Matcher{Kind: presence.Kind(kind), Value: v}
	}
	line, rest, _ = strings.Cut(rest, "\n")
	payload, rest, err := cutLen(line, rest)
	switch {
	case err != nil:
		return bad("payload: %v", err)
	case rest != "":
		return bad("%d bytes after the payload", len(rest))
	case payload != "":
		s.Payload = json.RawMessage(payload)
	}
	if err := s.Validate(); err != nil {
		return presence.Subscription{ID: id, Node: node}, fmt.Errorf("%w: node %q: %w", ErrCorrupt, node, err)
	}
	return s, nil
}

// cutLen parses size, a decimal length, and cuts that many bytes off the
// front of rest.
func cutLen(size, rest string) (string, string, error) {
	n, err := strconv.Atoi(size)
	if err != nil || n < 0 || n > len(rest) || strconv.Itoa(n) != size {
		return "", rest, fmt.Errorf("length %.24q with %d bytes left", size, len(rest))
	}
	return rest[:n], rest[n:], nil
}
