// Package rawstream serves Server-Sent Events streams byte for byte as a
// test wrote them, and lists streams whose framing is hard to get right
// (byte order marks, CR line ends, writes that split a line or a UTF-8
// sequence, NUL in an id, bogus retry, events cut off by the end of a
// connection) with the events a browser's EventSource dispatches for each.
// The client's tests, herald subscribe's tests and the browser-as-oracle
// test share them; only tests import it.
package rawstream

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
)

// Event is an event as a browser's EventSource reports it: the
// MessageEvent's lastEventId, its type ("message" when the stream named
// none) and its data. Its JSON form is a line of herald subscribe --json.
type Event struct {
	ID   string `json:"id"`
	Type string `json:"type"`
	Data string `json:"data"`
}

// Response is what the server sends on one connection.
type Response struct {
	// LastEventID is the Last-Event-ID header the client must send on the
	// request this answers; empty means no header.
	LastEventID string
	// Chunks are written in order, each flushed on its own, so each may
	// reach the client in a read of its own.
	Chunks []string
	// Abort breaks the connection after the chunks instead of ending the
	// response, as a network failure would.
	Abort bool
	// Want lists the events a browser dispatches from this response.
	Want []Event
}

// Case is a stream served over one or more connections: each of
// Responses in turn, then 204 No Content to every later request, which
// ends a browser's EventSource and herald's client alike.
type Case struct {
	Name      string
	Responses []Response
	// EndLastEventID is the Last-Event-ID the client must send on the
	// request answered with 204; empty means no header.
	EndLastEventID string
}

// Want returns the events a browser dispatches over all the responses.
func (c Case) Want() []Event {
	var all []Event
	for _, r := range c.Responses {
		all = append(all, r.Want...)
	}
	return all
}

// Types returns the named event types the cases use, so a page can listen
// for each of them besides "message".
func Types() []string { return []string{"named", "add", "update", "remove"} }

func msg(id, data string) Event        { return Event{ID: id, Type: "message", Data: data} }
func typed(id, typ, data string) Event { return Event{ID: id, Type: typ, Data: data} }

// one is a case served in a single response.
func one(name string, want []Event, chunks ...string) Case {
	return Case{Name: name, Responses: []Response{{Chunks: chunks, Want: want}}}
}

// endingWith sets the Last-Event-ID c's final request carries.
func endingWith(id string, c Case) Case {
	c.EndLastEventID = id
	return c
}

// Cases returns the tricky streams, a new slice on each call.
func Cases() []Case {
	return []Case{
		one("bom", []Event{msg("", "one")},
			"\xEF\xBB\xBFdata: one\n\n"),
		// Only one mark is removed: the second makes the first line's
		// field "\uFEFFdata", which is ignored.
		one("two_boms", []Event{msg("", "kept")},
			"\xEF\xBB\xBF\xEF\xBB\xBFdata: skipped\n\ndata: kept\n\n"),
		one("bom_split_across_writes", []Event{msg("", "a")},
			"\xEF", "\xBB", "\xBFdata: a\n\n"),
		endingWith("1", one("cr_line_ends", []Event{typed("1", "named", "a\nb"), msg("1", "c")},
			"id: 1\revent: named\rdata: a\rdata: b\r\rdata: c\r\r")),
		// A CR ending one write and the LF starting the next are one
		// line end.
		one("crlf_split_across_writes", []Event{msg("", "a"), msg("", "b")},
			"data: a\r", "\n\r", "\ndata: b\r\n\r\n"),
		// A CR ending one write ends the line even when no LF follows.
		one("cr_then_data_across_writes", []Event{msg("", "a\nb")},
			"data: a\r", "data: b\r", "\r"),
		one("mixed_line_ends", []Event{msg("", "a\nb\nc")},
			"data: a\r\ndata: b\ndata: c\r\r\n"),
		endingWith("1", one("nul_in_id", []Event{msg("1", "a"), msg("1", "b")},
			"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")),
		one("bogus_retry", []Event{msg("", "a"), msg("", "b")},
			"retry: 10x\ndata: a\n\nretry: -5\nretry: 1.5\nretry\nretry: \nretry:  7\ndata: b\n\n"),
		endingWith("42", one("event_split_across_writes", []Event{msg("42", "hello")},
			"da", "ta: hel", "lo\nid", ": 4", "2\n", "\n")),
		one("utf8_split_across_writes", []Event{msg("", "café €")},
			"data: caf\xC3", "\xA9 \xE2\x82", "\xAC\n\n"),
		one("invalid_utf8", []Event{msg("", "a\uFFFDb\uFFFD(c\uFFFD")},
			"data: a\xFFb\xC3(c\xE2\x82\n\n"),
		// The last event ID carries over to events without an id field
		// until an empty id resets it; an id-only block sets it too.
		endingWith("8", one("id_persists_and_resets", []Event{msg("7", "a"), msg("7", "b"), msg("", "c"), msg("8", "d")},
			"id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\nid: 8\n\ndata: d\n\n")),
		one("field_parsing", []Event{msg("", "\nno space\n two spaces")},
			": comment\nDATA: no\nfoo: bar\ndata\ndata:no space\ndata:  two spaces\nevent\n\n"),
		// A block without data dispatches nothing and resets the type.
		one("types", []Event{typed("", "add", "1"), msg("", "2"), typed("", "update", "3"), msg("", "4")},
			"event: add\ndata: 1\n\ndata: 2\n\nevent: remove\nevent: update\ndata: 3\n\nevent: add\n\ndata: 4\n\n"),
		one("empty_data", []Event{msg("", ""), msg("", "\n")},
			"data\n\ndata:\ndata:\n\n"),
		// An event still open at the end is discarded, its id with it.
		{
			Name: "unterminated_at_end",
			Responses: []Response{{
				Chunks: []string{"id: 1\ndata: a\n\nid: 2\ndata: partial\n"},
				Want:   []Event{msg("1", "a")},
			}},
			EndLastEventID: "1",
		},
		// The last event ID persists across connections: sent as
		// Last-Event-ID, and reported by events without an id.
		{
			Name: "resume_after_end",
			Responses: []Response{
				{Chunks: []string{"retry: 20\nid: 1\ndata: a\n\nid: 2\ndata: part"}, Want: []Event{msg("1", "a")}},
				{LastEventID: "1", Chunks: []string{"data: b\n\nid: 3\ndata: c\n\n"}, Want: []Event{msg("1", "b"), msg("3", "c")}},
			},
			EndLastEventID: "3",
		},
		{
			Name: "abort_mid_event",
			Responses: []Response{
				{Chunks: []string{"retry: 20\nid: 5\ndata: a\n\n", "id: 6\ndata: lost"}, Abort: true, Want: []Event{msg("5", "a")}},
				{LastEventID: "5", Chunks: []string{"data: b\n\n"}, Want: []Event{msg("5", "b")}},
			},
			EndLastEventID: "5",
		},
		// A named event without an id between two with ids (herald's
		// herald:replayed marker) leaves the last event ID to the last id
		// sent, which the next request carries.
		{
			Name: "named_without_id_then_resume",
			Responses: []Response{
				{Chunks: []string{"retry: 20\nid: 1\ndata: a\n\nevent: named\ndata: x\n\nid: 2\ndata: b\n\n"},
					Want: []Event{msg("1", "a"), typed("1", "named", "x"), msg("2", "b")}},
				{LastEventID: "2", Chunks: []string{"data: c\n\n"}, Want: []Event{msg("2", "c")}},
			},
			EndLastEventID: "2",
		},
		// An empty id resets the last event ID: no header is sent.
		{
			Name: "reset_then_resume",
			Responses: []Response{
				{Chunks: []string{"retry: 20\nid: 1\ndata: a\n\nid\ndata: b\n\n"}, Want: []Event{msg("1", "a"), msg("", "b")}},
				{Chunks: []string{"data: c\n\n"}, Want: []Event{msg("", "c")}},
			},
		},
		// Each connection's stream may start with its own mark.
		{
			Name: "boms_after_resume",
			Responses: []Response{
				{Chunks: []string{"retry: 20\nid: 1\ndata: a\n\n"}, Want: []Event{msg("1", "a")}},
				{LastEventID: "1", Chunks: []string{"\xEF\xBB\xBFdata: b\n\n"}, Want: []Event{msg("1", "b")}},
				{LastEventID: "1", Chunks: []string{"\xEF\xBB", "\xBF\xEF\xBB\xBFdata: x\n\ndata: c\n\n"}, Want: []Event{msg("1", "c")}},
			},
			EndLastEventID: "1",
		},
	}
}

// Request records the headers of one request a [Handler] served.
type Request struct {
	LastEventID    string
	HasLastEventID bool
	Accept         string
	CacheControl   string
}

// Handler serves a [Case]: each response in turn, then 204. It records
// every request, and is safe for concurrent use.
type Handler struct {
	c Case

	mu       sync.Mutex
	requests []Request
}

// NewHandler returns a Handler for c.
func NewHandler(c Case) *Handler { return &Handler{c: c} }

// ServeHTTP serves the next response of the case, or 204 after the last.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ids, has := r.Header["Last-Event-Id"]
	req := Request{HasLastEventID: has, Accept: r.Header.Get("Accept"), CacheControl: r.Header.Get("Cache-Control")}
	if has {
		req.LastEventID = ids[0]
	}
	h.mu.Lock()
	n := len(h.requests)
	h.requests = append(h.requests, req)
	h.mu.Unlock()

	if n >= len(h.c.Responses) {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	resp := h.c.Responses[n]
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for _, chunk := range resp.Chunks {
		if _, err := w.Write([]byte(chunk)); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
	if resp.Abort {
		panic(http.ErrAbortHandler)
	}
}

// Requests returns the requests served so far, in order.
func (h *Handler) Requests() []Request {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.requests)
}

// Check compares the requests served with what the case expects: one per
// response and a last one answered with 204, each with the Last-Event-ID
// it should carry (or none). It returns a description of each difference.
func (h *Handler) Check() []string {
	var diffs []string
	reqs := h.Requests()
	want := make([]string, 0, len(h.c.Responses)+1)
	for _, r := range h.c.Responses {
		want = append(want, r.LastEventID)
	}
	want = append(want, h.c.EndLastEventID)
	if len(reqs) != len(want) {
		diffs = append(diffs, fmt.Sprintf("got %d requests, want %d", len(reqs), len(want)))
	}
	for i, r := range reqs {
		if i >= len(want) {
			break
		}
		switch {
		case want[i] == "" && r.HasLastEventID:
			diffs = append(diffs, fmt.Sprintf("request %d: Last-Event-ID %q, want none", i+1, r.LastEventID))
		case want[i] != "" && r.LastEventID != want[i]:
			diffs = append(diffs, fmt.Sprintf("request %d: Last-Event-ID %q, want %q", i+1, r.LastEventID, want[i]))
		}
	}
	return diffs
}
