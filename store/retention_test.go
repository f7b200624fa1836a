package store_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/store"
)

func TestRetentionValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		r    store.Retention
		want string // "" for valid
	}{
		{"zero value", store.Retention{}, ""},
		{"size zero keeps none", store.Retention{Policies: []store.Policy{{Pattern: "system/**"}}}, ""},
		{"negative age is no bound", store.Retention{Policies: []store.Policy{{Pattern: "a", MaxEntries: 1, MaxAge: -1}}, MaxAge: -1}, ""},
		{"negative size", store.Retention{Policies: []store.Policy{{Pattern: "x", MaxEntries: -1}}}, `policy 1 ("x") keeps -1 events, which is negative`},
		{"empty pattern", store.Retention{Policies: []store.Policy{{Pattern: "", MaxEntries: 5}}}, `policy 1 (""): invalid pattern "": empty`},
		{"invalid pattern", store.Retention{Policies: []store.Policy{{Pattern: "ok"}, {Pattern: "a//b"}}}, `policy 2 ("a//b"): invalid pattern "a//b": empty segment`},
		{"pattern twice", store.Retention{Policies: []store.Policy{{Pattern: "a/*"}, {Pattern: "a/*", MaxEntries: 3}}}, `policy 2 ("a/*"): the pattern is given twice`},
		{"negative default", store.Retention{MaxEntries: -1}, "the default keeps -1 events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tc.want != "" && (!errors.Is(err, store.ErrInvalidPolicy) || !strings.Contains(fmt.Sprint(err), tc.want)):
				t.Errorf("Validate() = %v, want ErrInvalidPolicy saying %q", err, tc.want)
			}
		})
	}
}

func TestRetentionResolved(t *testing.T) {
	r := store.Retention{Policies: []store.Policy{
		{Pattern: "a/*", MaxEntries: 5},
		{Pattern: "b/*", MaxEntries: 0, MaxAge: time.Minute},
		{Pattern: "c/*", MaxEntries: 1, MaxAge: -1},
	}}
	want := "[{a/* 5 1h0m0s} {b/* 0 1m0s} {c/* 1 -1ns} {** 10000 1h0m0s}]"
	if got := fmt.Sprint(r.Resolved()); got != want {
		t.Errorf("Resolved() = %s, want %s", got, want)
	}
	r.MaxEntries, r.MaxAge = 7, -1
	if got := fmt.Sprint(r.Resolved()[0], r.Resolved()[3]); got != "{a/* 5 -1ns} {** 7 -1ns}" {
		t.Errorf("Resolved() with MaxEntries 7 and no age bound = %s", got)
	}
}

func TestRetentionPolicyFor(t *testing.T) {
	r := store.Retention{Policies: []store.Policy{{Pattern: "a/x"}, {Pattern: "a/*"}, {Pattern: "**"}}}
	for topic, want := range map[string]int{"a/x": 0, "a/y": 1, "a": 2, "b/c/d": 2} {
		if got := r.PolicyFor(topic); got != want {
			t.Errorf("PolicyFor(%q) = %d, want %d (first match wins)", topic, got, want)
		}
	}
	if got := (store.Retention{}).PolicyFor("x"); got != 0 {
		t.Errorf("PolicyFor with no policies = %d, want 0, the default", got)
	}
}

func TestRetentionHolding(t *testing.T) {
	r := store.Retention{Policies: []store.Policy{
		{Pattern: "stocks/**"}, {Pattern: "chat/**"}, {Pattern: "chat/lobby"}, // the last is shadowed
	}}
	for _, tc := range []struct {
		patterns []string
		want     string
	}{
		{[]string{"chat/lobby"}, "[1]"},
		{[]string{"chat/*"}, "[1]"},
		{[]string{"stocks/ACME", "chat/a"}, "[0 1]"},
		{[]string{"chat"}, "[3]"},          // "chat" itself: chat/** needs two segments
		{[]string{"*/lobby"}, "[0 1 3]"},   // stocks/lobby, chat/lobby, news/lobby
		{[]string{"**"}, "[0 1 3]"},        // every policy that can hold anything
		{[]string{"news/*", "x"}, "[3]"},   // the default alone
		{[]string{"stocks/*/*/**"}, "[0]"}, // deep stocks topics
	} {
		if got := fmt.Sprint(r.Holding(tc.patterns)); got != tc.want {
			t.Errorf("Holding(%q) = %s, want %s", tc.patterns, got, tc.want)
		}
	}
}

func TestQuery(t *testing.T) {
	for _, tc := range []struct {
		q    store.Query
		ok   bool
		max  int
		t    string
		hits bool
	}{
		{store.Query{Patterns: []string{"a/*"}}, true, 64, "a/b", true},
		{store.Query{Patterns: []string{"a/*", "b"}, Max: 5}, true, 5, "b", true},
		{store.Query{Patterns: []string{"a/*"}, Max: -3}, true, 64, "a", false},
		{store.Query{}, false, 64, "a", false},
		{store.Query{Patterns: []string{"a", "**/b"}}, false, 64, "a", true},
	} {
		if err := tc.q.Check(); (err == nil) != tc.ok || err != nil && !errors.Is(err, store.ErrInvalidQuery) {
			t.Errorf("%+v.Check() = %v, want ok %v", tc.q, err, tc.ok)
		}
		if got := tc.q.Limit(); got != tc.max {
			t.Errorf("%+v.Limit() = %d, want %d", tc.q, got, tc.max)
		}
		if got := tc.q.Matches(tc.t); got != tc.hits {
			t.Errorf("%+v.Matches(%q) = %v, want %v", tc.q, tc.t, got, tc.hits)
		}
	}
}

func TestCheckRead(t *testing.T) {
	done, cancel := context.WithCancel(context.Background())
	cancel()
	ok := store.Query{Patterns: []string{"chat/*"}}
	for _, tc := range []struct {
		name   string
		ctx    context.Context
		q      store.Query
		closed bool
		want   error
	}{
		{"readable", context.Background(), ok, false, nil},
		{"no pattern", context.Background(), store.Query{}, false, store.ErrInvalidQuery},
		{"invalid pattern first, even when closed", done, store.Query{Patterns: []string{"a//b"}}, true, store.ErrInvalidQuery},
		{"ctx done before closed", done, ok, true, context.Canceled},
		{"closed", context.Background(), ok, true, store.ErrClosed},
	} {
		err := store.CheckRead(tc.ctx, tc.q, tc.closed)
		if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%s: CheckRead = %v, want %v", tc.name, err, tc.want)
		}
	}
}
