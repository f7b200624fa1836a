package server_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

// FuzzPublishBody posts arbitrary bodies with each content type and checks
// that the answer is always a 201 with an id (a batch: one id per event)
// or a 4xx with a JSON error: never a panic, a 5xx or a hang.
func FuzzPublishBody(f *testing.F) {
	for _, seed := range []string{
		`{"topic":"a","data":"x"}`,
		`{"topic":"a/b","type":"t","data":{"k":[1,2]},"retry":100}`,
		`{"topic":"a","data":null}`,
		`{"topic":"a","retry":-1}`,
		`{"topic":"a**"}`,
		`[]`, `{`, `{"topic":"a"} x`,
		`[{"topic":"a","data":"x"},{"topic":"b","data":[1]}]`, ` [{"topic":"a"}] `, `[{"topic":"a"},{}]`, `[{"topic":"a"}`,
		`topic=a&data=x&type=y&retry=5`,
		"topic=a%0Ab",
	} {
		f.Add(seed, uint8(0))
		f.Add(seed, uint8(1))
	}
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), MaxDataSize: 1 << 10})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { h.Close(f.Context()) })
	srv, err := server.New(server.Options{Hub: h, MaxBodyBytes: 4 << 10, Heartbeat: -1})
	if err != nil {
		f.Fatal(err)
	}
	types := []string{"application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", "text/plain", ""}
	f.Fuzz(func(t *testing.T, body string, ct uint8) {
		req := httptest.NewRequest(http.MethodPost, "/events", strings.NewReader(body))
		if c := types[int(ct)%len(types)]; c != "" {
			req.Header.Set("Content-Type", c)
		}
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		var out struct {
			ID    string   `json:"id"`
			IDs   []string `json:"ids"`
			Error string   `json:"error"`
		}
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, body %q is not JSON", rec.Code, rec.Body)
		}
		var batch []json.RawMessage
		c := types[int(ct)%len(types)]
		isBatch := (c == "application/json" || c == "") && json.Unmarshal([]byte(body), &batch) == nil
		switch {
		case rec.Code == http.StatusCreated && !isBatch && out.ID != "":
		case rec.Code == http.StatusCreated && isBatch && len(out.IDs) == len(batch) && !slices.Contains(out.IDs, ""):
		case rec.Code >= 400 && rec.Code < 500 && out.Error != "":
		default:
			t.Fatalf("POST %q: status %d body %v, want 201 with an id or a 4xx JSON error", body, rec.Code, out)
		}
	})
}
