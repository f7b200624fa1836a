package openapi_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/heraldsse/herald/openapi"
)

// load parses and validates the embedded description with kin-openapi,
// which validates OpenAPI 3.1 documents and their JSON Schema 2020-12
// schemas.
func load(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openapi.Document())
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI document: %v", err)
	}
	return doc
}

// TestDocumentValidates checks that the description is a valid OpenAPI 3.1
// document.
func TestDocumentValidates(t *testing.T) {
	doc := load(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.1.") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
}

// TestDocumentConventions checks what the document promises of every
// operation: an operationId and a summary, and every error answer (4xx or
// 5xx) with a body is herald's JSON error; and that each event an event
// stream describes names a schema the document has.
func TestDocumentConventions(t *testing.T) {
	doc := load(t)
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			name := method + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: wants an operationId and a summary", name)
			}
			for code, resp := range op.Responses.Map() {
				status, err := strconv.Atoi(code)
				if err != nil {
					t.Errorf("%s: response %q: want a status code", name, code)
					continue
				}
				content := resp.Value.Content
				if status < 400 || len(content) == 0 {
					for ct, mt := range content {
						if ct == "text/event-stream" {
							checkEvents(t, doc, name, mt)
						}
					}
					continue
				}
				mt := content.Get("application/json")
				if len(content) != 1 || mt == nil || mt.Schema == nil || mt.Schema.Ref != "#/components/schemas/Error" {
					t.Errorf("%s: %d answers %v; want application/json with schema Error", name, status, content)
				}
			}
		}
	}
}

// checkEvents checks the x-herald-events extension of an event stream:
// each event says whether it has an id, and how its data reads.
func checkEvents(t *testing.T, doc *openapi3.T, name string, mt *openapi3.MediaType) {
	t.Helper()
	raw, ok := mt.Extensions["x-herald-events"]
	if !ok {
		t.Errorf("%s: an event stream without x-herald-events", name)
		return
	}
	b, _ := json.Marshal(raw)
	var events map[string]struct {
		Description string          `json:"description"`
		ID          string          `json:"id"`
		DataFormat  string          `json:"dataFormat"`
		Data        json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(b, &events); err != nil || len(events) == 0 {
		t.Errorf("%s: x-herald-events = %s: %v", name, b, err)
		return
	}
	for typ, ev := range events {
		if ev.Description == "" || (ev.ID != "required" && ev.ID != "none") || (ev.DataFormat != "json" && ev.DataFormat != "text") {
			t.Errorf("%s: event %q: want a description, id required or none, dataFormat json or text; got %+v", name, typ, ev)
		}
		var ref struct {
			Ref string `json:"$ref"`
		}
		if json.Unmarshal(ev.Data, &ref) == nil && ref.Ref != "" {
			schema, ok := strings.CutPrefix(ref.Ref, "#/components/schemas/")
			if !ok || doc.Components.Schemas[schema] == nil {
				t.Errorf("%s: event %q: data %s names no schema of the document", name, typ, ref.Ref)
			}
		}
	}
}

// TestHandler checks how the description is served: JSON with a strong
// ETag, 304 for a client that has it, HEAD without a body, and 405 with a
// JSON error for other methods.
func TestHandler(t *testing.T) {
	srv := httptest.NewServer(openapi.Handler())
	t.Cleanup(srv.Close)
	do := func(method string, header http.Header) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequest(method, srv.URL+openapi.Path, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, body
	}

	resp, body := do(http.MethodGet, nil)
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" || string(body) != string(openapi.Document()) {
		t.Fatalf("GET = %d %q, %d bytes; want 200 application/json, the document", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	if len(etag) < 3 || etag[0] != '"' || etag[len(etag)-1] != '"' || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("GET: ETag %q, Cache-Control %q; want a strong ETag and no-cache", etag, resp.Header.Get("Cache-Control"))
	}

	tests := []struct {
		name   string
		method string
		header http.Header
		status int
		body   bool
	}{
		{"If-None-Match with the ETag", http.MethodGet, http.Header{"If-None-Match": {etag}}, http.StatusNotModified, false},
		{"If-None-Match with another ETag", http.MethodGet, http.Header{"If-None-Match": {`"other"`}}, http.StatusOK, true},
		{"If-None-Match any", http.MethodGet, http.Header{"If-None-Match": {"*"}}, http.StatusNotModified, false},
		{"HEAD", http.MethodHead, nil, http.StatusOK, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(tt.method, tt.header)
			if resp.StatusCode != tt.status || (len(body) > 0) != tt.body || resp.Header.Get("ETag") != etag {
				t.Errorf("%s = %d, %d bytes, ETag %q; want %d, body %v, ETag %q", tt.method, resp.StatusCode, len(body), resp.Header.Get("ETag"), tt.status, tt.body, etag)
			}
		})
	}

	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodOptions} {
		t.Run(method, func(t *testing.T) {
			resp, body := do(method, nil)
			var e struct{ Error string }
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" || json.Unmarshal(body, &e) != nil || e.Error == "" {
				t.Errorf("%s = %d, Allow %q, body %s; want 405, GET, HEAD, a JSON error", method, resp.StatusCode, resp.Header.Get("Allow"), body)
			}
		})
	}
}

// TestDocumentIsACopy checks that a caller changing what Document returns
// does not change what is served.
func TestDocumentIsACopy(t *testing.T) {
	b := openapi.Document()
	b[0] = 'x'
	if openapi.Document()[0] == 'x' {
		t.Error("Document returned the embedded bytes, not a copy")
	}
}
