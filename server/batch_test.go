package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
)

// TestPublishBatch checks POST /events with a JSON array: 201 with the IDs
// in order, the events delivered in that order; and that one bad event
// refuses the whole batch with a 4xx naming it and publishes nothing. Bad
// inputs tried: an empty array, 257 events, an event without a topic, one
// with an unknown field, a bad retry, an invalid topic, a mercure/ topic,
// an array that is not closed, a topic the token may not publish to (403),
// no token (401).
func TestPublishBatch(t *testing.T) {
	e := newEnv(t, hub.Options{}, server.Options{})
	_, dec := e.subscribe(t, "topic=b/*", nil)
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == 1 })

	status, ids := postBatch(t, e.ts.URL, "", ` [{"topic":"b/1","data":"one"}, {"topic":"b/2","type":"note","data":{"n":2}}, {"topic":"b/1","data":"three"}] `)
	if status != http.StatusCreated || len(ids) != 3 {
		t.Fatalf("batch of 3 = %d %v, want 201 with 3 IDs", status, ids)
	}
	for i, want := range []string{"one", `{"n":2}`, "three"} {
		if ev := next(t, dec); ev.ID != ids[i] || ev.Data != want {
			t.Fatalf("event %d = %+v, want id %s data %s", i, ev, ids[i], want)
		}
	}

	many := "[" + strings.TrimSuffix(strings.Repeat(`{"topic":"b/x"},`, hub.MaxBatch+1), ",") + "]"
	for _, tt := range []struct{ name, body, says string }{
		{"empty", `[]`, "1 to 256 events, got 0"},
		{"too many", many, "got 257"},
		{"no topic", `[{"topic":"b/1"},{"data":"x"}]`, "event 1: missing topic"},
		{"unknown field", `[{"topic":"b/1","colour":"red"}]`, "unknown field"},
		{"bad data", `[{"topic":"b/1"},{"topic":"b/1","retry":-5}]`, "event 1: retry"},
		{"invalid topic", `[{"topic":"b/1"},{"topic":"b//2"}]`, "event 1"},
		{"mercure topic", `[{"topic":"mercure/x"}]`, "event 0: topic"},
		{"unclosed", `[{"topic":"b/1"}`, "malformed JSON"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := e.hub.Stats().Published
			status, out := e.postRaw(t, "application/json", tt.body)
			if status != http.StatusBadRequest || !strings.Contains(out.Error, tt.says) {
				t.Errorf("POST %.60s = %d %q, want 400 saying %q", tt.body, status, out.Error, tt.says)
			}
			if after := e.hub.Stats().Published; after != before {
				t.Errorf("a refused batch published %d events", after-before)
			}
		})
	}

	t.Run("auth", func(t *testing.T) {
		a := newAuthEnv(t, server.AuthOptions{Secret: testSecret})
		tok := hs256(t, []string{"b/*"}, nil)
		if status, _ := postBatch(t, a.ts.URL, "", `[{"topic":"b/1"}]`); status != http.StatusUnauthorized {
			t.Errorf("batch without a token = %d, want 401", status)
		}
		req, _ := http.NewRequest(http.MethodPost, a.ts.URL+"/events", strings.NewReader(`[{"topic":"b/1"},{"topic":"c/1"}]`))
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var out api.Error
		_ = json.NewDecoder(resp.Body).Decode(&out)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(out.Error, "event 1") {
			t.Errorf("batch with a topic beyond the token = %d %q, want 403 naming event 1", resp.StatusCode, out.Error)
		}
		if n := a.hub.Stats().Published; n != 0 {
			t.Errorf("a refused batch published %d events", n)
		}
		if status, ids := postBatch(t, a.ts.URL, tok, `[{"topic":"b/1"},{"topic":"b/2"}]`); status != http.StatusCreated || len(ids) != 2 {
			t.Errorf("batch within the token = %d %v, want 201 with 2 IDs", status, ids)
		}
	})
}

// postBatch posts body as JSON to url's /events, with tok if not empty,
// and returns the status and the IDs of a 201.
func postBatch(t *testing.T, url, tok, body string) (int, []string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url+"/events", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out api.PublishBatchResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatalf("the answer to a batch is not JSON: %v", err)
	}
	return resp.StatusCode, out.IDs
}

// postRaw posts body to /events and returns the status and the error body.
func (e *env) postRaw(t *testing.T, contentType, body string) (int, api.Error) {
	t.Helper()
	resp, err := http.Post(e.ts.URL+"/events", contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out api.Error
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(fmt.Errorf("the answer to %.40q is not JSON: %w", body, err))
	}
	return resp.StatusCode, out
}
