package redis_test

import (
	"errors"
	"testing"
	"time"

	"github.com/heraldsse/herald/presence/presencetest"
	"github.com/heraldsse/herald/presence/redis"
)

// FuzzDecode feeds arbitrary hash values to the record decoder: it never
// panics, refuses with ErrCorrupt what is not a valid record, and what it
// accepts encodes back to a value that decodes to the same record.
func FuzzDecode(f *testing.F) {
	s := presencetest.Sub("chat/lobby", "chat/*")
	s.Start = time.Unix(1764158400, 123456789)
	f.Add(s.ID, redis.Encode(s))
	f.Add("urn:uuid:x", "v1 1 1\nherald 1\na\n0\n")
	f.Add("urn:uuid:x", "v1 1 2\nexact 21\nhttps://example.com/a\nurlpattern 5\n/b/:x\n4\nnull")
	f.Add("urn:uuid:x", "v1 1 0\n0\n")                        // no matchers
	f.Add("urn:uuid:x", "v1 1 1\nregexp 2\n.*\n0\n")          // unknown kind
	f.Add("urn:uuid:x", "v1 1 1\nherald 5\na\n0\n")           // value shorter than its length
	f.Add("urn:uuid:x", "v1 1 1\nherald 01\na\n0\n")          // length with a leading zero
	f.Add("urn:uuid:x", "v1 -5 1\nherald 1\na\n0\n")          // negative start
	f.Add("urn:uuid:x", "v1 1 99999999999\nherald 1\na\n0\n") // count beyond the value
	f.Add("urn:uuid:x", "v1 1 1\nherald 1\na\n6\n{\"a\":")    // payload not JSON
	f.Add("urn:uuid:x", "v1 1 1\nherald 1\na\n0\nextra")      // trailing bytes
	f.Add("", "v1 1 1\nherald 1\na\n0\n")                     // empty ID
	f.Add("urn:uuid:x", `{"t":[["herald","a"]],"s":1}`)       // another format
	f.Add("urn:uuid:x", "")
	f.Fuzz(func(t *testing.T, id, value string) {
		got, err := redis.Decode("node-1", id, value)
		if err != nil {
			if !errors.Is(err, redis.ErrCorrupt) {
				t.Fatalf("Decode(%q) = %v, want an error wrapping ErrCorrupt", value, err)
			}
			if got.ID != id || got.Node != "node-1" {
				t.Fatalf("Decode(%q) refused, with ID %q node %q; want the given ones", value, got.ID, got.Node)
			}
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Decode(%q) accepted an invalid record: %v", value, err)
		}
		again, err := redis.Decode("node-1", id, redis.Encode(got))
		if err != nil {
			t.Fatalf("re-decoding %+v: %v", got, err)
		}
		if d := presencetest.Equal(again, got); d != "" {
			t.Fatalf("Decode(Encode(%+v)): %s", got, d)
		}
	})
}
