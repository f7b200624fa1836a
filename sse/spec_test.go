package sse_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
)

// The conformance vectors live in testdata/spec/*.json, written from the
// WHATWG HTML Standard, 9.2.5 "Parsing an event stream" and 9.2.6
// "Interpreting an event stream", and the Encoding Standard's UTF-8 decoder
// it relies on. herald.js's tests (js/tests) read the same files, so the Go
// Decoder and the JavaScript parser are held to one table;
// testdata/spec/README.md describes the format.

// specFile is one file of testdata/spec.
type specFile struct {
	About    string     `json:"about"`
	Standard []string   `json:"standard"`
	Cases    []specCase `json:"cases"`
}

// specCase is one vector: a stream, and what an EventSource makes of it.
type specCase struct {
	Name        string      `json:"name"`
	Input       specInput   `json:"input"`
	Events      []specEvent `json:"events"`
	LastEventID string      `json:"lastEventId"`
	Retry       *int64      `json:"retry"` // milliseconds; nil: never set
	MaxSize     int         `json:"maxSize"`
	Error       string      `json:"error"` // "too large", or empty
}

// specEvent is a dispatched event; an empty Type is "message".
type specEvent struct {
	Type        string `json:"type"`
	Data        string `json:"data"`
	LastEventID string `json:"lastEventId"`
	Retry       int64  `json:"retry"` // milliseconds; 0: none in its block
}

// specInput is a stream's bytes: a JSON string (UTF-8 text), or an array of
// strings and {"bytes": "EF BB"} objects, for bytes that are not valid
// UTF-8, concatenated.
type specInput []byte

func (in *specInput) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*in = []byte(s)
		return nil
	}
	var parts []json.RawMessage
	if err := json.Unmarshal(b, &parts); err != nil {
		return fmt.Errorf("input: want a string or an array: %w", err)
	}
	var out []byte
	for _, p := range parts {
		if err := json.Unmarshal(p, &s); err == nil {
			out = append(out, s...)
			continue
		}
		var raw struct {
			Bytes string `json:"bytes"`
		}
		dec := json.NewDecoder(bytes.NewReader(p))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("input part %s: want a string or {\"bytes\": \"hex\"}: %w", p, err)
		}
		bs, err := hex.DecodeString(strings.ReplaceAll(raw.Bytes, " ", ""))
		if err != nil || len(bs) == 0 {
			return fmt.Errorf("input part %s: bad hex bytes: %v", p, err)
		}
		out = append(out, bs...)
	}
	*in = out
	return nil
}

// specErrors maps a vector's error to the Decoder's.
var specErrors = map[string]error{"too large": sse.ErrTooLarge}

// loadDecodeCases reads every file of testdata/spec into the conformance
// table, failing t on a file that does not parse, a field it does not know,
// an unknown error or a repeated name.
func loadDecodeCases(t testing.TB) []decodeCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "spec", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no conformance vectors in testdata/spec (%v)", err)
	}
	var cases []decodeCase
	seen := make(map[string]string)
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		var f specFile
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if len(f.Cases) == 0 {
			t.Fatalf("%s: no cases", file)
		}
		for _, sc := range f.Cases {
			if sc.Name == "" {
				t.Fatalf("%s: a case has no name", file)
			}
			if other, dup := seen[sc.Name]; dup {
				t.Fatalf("%s: case %s is also in %s", file, sc.Name, other)
			}
			seen[sc.Name] = file
			c := decodeCase{name: sc.Name, in: string(sc.Input), maxSize: sc.MaxSize, lastID: sc.LastEventID}
			for _, e := range sc.Events {
				c.want = append(c.want, sse.Event{ID: e.LastEventID, Type: e.Type, Data: e.Data, Retry: time.Duration(e.Retry) * ms})
			}
			if sc.Retry != nil {
				c.retry, c.retrySet = time.Duration(*sc.Retry)*ms, true
			}
			if sc.Error != "" {
				if c.err = specErrors[sc.Error]; c.err == nil {
					t.Fatalf("%s: case %s: unknown error %q", file, sc.Name, sc.Error)
				}
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// TestSpecInputBadForms checks that a malformed input in a vector file is
// an error, not a silently empty stream.
func TestSpecInputBadForms(t *testing.T) {
	for _, bad := range []string{`42`, `{"bytes": "EF"}`, `[{"bytes": "zz"}]`, `[{"bytes": ""}]`, `[{"hex": "EF"}]`, `[7]`} {
		var in specInput
		if err := json.Unmarshal([]byte(bad), &in); err == nil {
			t.Errorf("input %s: got %q, want an error", bad, []byte(in))
		}
	}
	var in specInput
	if err := json.Unmarshal([]byte(`["a", {"bytes": "EF BB"}, "b"]`), &in); err != nil || string(in) != "a\xEF\xBBb" {
		t.Errorf(`input ["a", {"bytes": "EF BB"}, "b"] = %q, %v; want "a\xEF\xBBb"`, []byte(in), err)
	}
}
