package rawstream_test

import (
	"slices"
	"testing"

	"github.com/heraldsse/herald/internal/rawstream"
)

// TestCasesConsistent checks the table itself: unique names, at least one
// response each, and every named type it expects listed by Types, so a
// page listening for Types hears every event.
func TestCasesConsistent(t *testing.T) {
	seen := make(map[string]bool)
	for _, c := range rawstream.Cases() {
		if c.Name == "" || seen[c.Name] {
			t.Errorf("case name %q is empty or repeated", c.Name)
		}
		seen[c.Name] = true
		if len(c.Responses) == 0 {
			t.Errorf("%s: no response", c.Name)
		}
		for _, ev := range c.Want() {
			if ev.Type != "message" && !slices.Contains(rawstream.Types(), ev.Type) {
				t.Errorf("%s: type %q is not in Types()", c.Name, ev.Type)
			}
		}
	}
}
