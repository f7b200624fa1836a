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
	f.Add("urn:uuid:x", `{"t":[["herald","a"]],"s":1}`)
	f.Add("urn:uuid:x", `{"t":[["exact","https://example.com/a"],["urlpattern","/b/:x"]],"s":1,"p":null}`)
	f.Add("urn:uuid:x", `{"t":[],"s":1}`)
	f.Add("urn:uuid:x", `{"t":[["regexp",".*"]],"s":1}`)
	f.Add("urn:uuid:x", `{"t":[["herald"]],"s":1}`)
	f.Add("urn:uuid:x", `{"t":[["herald","a","extra"]],"s":-5}`)
	f.Add("", `{"t":[["herald","a"]],"s":1}`)
	f.Add("urn:uuid:x", `{"t":[["herald","a"]],"s":1,"p":{"a":`)
	f.Add("urn:uuid:x", `not json`)
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
