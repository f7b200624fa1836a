package openapi_test

import (
	"encoding/json"
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
// 5xx) with a body is herald's JSON error (the Mercure hub's are plain text,
// as its protocol's); and that each event an event
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
				if strings.HasPrefix(path, "/.well-known/mercure") {
					// The Mercure protocol's errors are one line of plain
					// text, as the reference hub's (docs/mercure.md, "Errors").
					if len(content) != 1 || content.Get("text/plain") == nil {
						t.Errorf("%s: %d answers %v; want text/plain, as Mercure's errors are", name, status, content)
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

// TestHandler checks that the handler serves the description as JSON with
// an ETag (internal/asset's tests cover 304, HEAD and 405).
func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	openapi.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, openapi.Path, nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("ETag") == "" || rec.Body.String() != string(openapi.Document()) {
		t.Errorf("GET %s = %d %q ETag %q, %d bytes; want 200 application/json with an ETag, the document", openapi.Path, rec.Code, rec.Header().Get("Content-Type"), rec.Header().Get("ETag"), rec.Body.Len())
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
