package sse_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"time"

	"github.com/heraldsse/herald/sse"
)

// A handler as short as the tutorial's Flask generator: it counts, sending
// each count as JSON. A real one would wait between events, selecting on
// st.Done() to stop when the client goes.
func ExampleOpen() {
	counter := func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, sse.Options{})
		if err != nil {
			return
		}
		defer st.Close()
		for count := 1; count <= 3; count++ {
			if err := st.Send(sse.Event{Data: fmt.Sprintf(`{"count": %d}`, count)}); err != nil {
				return
			}
		}
	}

	srv := httptest.NewServer(http.HandlerFunc(counter))
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	fmt.Println(resp.Header.Get("Content-Type"))
	dec := sse.NewDecoder(resp.Body)
	for {
		ev, err := dec.Next()
		if err != nil {
			break
		}
		fmt.Println(ev.Data)
	}
	// Output:
	// text/event-stream
	// {"count": 1}
	// {"count": 2}
	// {"count": 3}
}

func ExampleDecoder() {
	stream := "\uFEFF: a comment, ignored\r\n" +
		"retry: 5000\r\n" +
		"id: 1\r\n" +
		"event: counter\r\n" +
		"data: {\"count\": 1}\r\n" +
		"\r\n" +
		"data: two\n" +
		"data: lines\n" +
		"\n" +
		"data: no blank line after this event, so it is discarded\n"
	dec := sse.NewDecoder(strings.NewReader(stream))
	for {
		ev, err := dec.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("id=%q type=%q data=%q\n", ev.ID, ev.Type, ev.Data)
	}
	retry, _ := dec.Retry()
	fmt.Println("last event ID:", dec.LastEventID(), "retry:", retry)
	// Output:
	// id="1" type="counter" data="{\"count\": 1}"
	// id="1" type="" data="two\nlines"
	// last event ID: 1 retry: 5s
}

func ExampleAppendEvent() {
	buf := make([]byte, 0, 256) // reused: no allocation while it has room
	buf, err := sse.AppendEvent(buf, sse.Event{
		ID:    "7",
		Type:  "update",
		Data:  "line one\nline two",
		Retry: 3 * time.Second,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	buf = sse.AppendComment(buf, "keep-alive")
	fmt.Print(string(buf))

	_, err = sse.AppendEvent(buf, sse.Event{ID: "bad\nid"})
	fmt.Println(err)
	// Output:
	// id: 7
	// event: update
	// retry: 3000
	// data: line one
	// data: line two
	//
	// : keep-alive
	// sse: event id contains CR, LF or NUL: "bad\nid"
}

// A server that keeps its IDs as numbers formats each into a buffer of its
// own and encodes the event with it, without making a string.
func ExampleAppendEventID() {
	var idBuf [20]byte
	id := strconv.AppendUint(idBuf[:0], 1764158400123, 10)
	buf, err := sse.AppendEventID(nil, id, sse.Event{Data: "hello"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(buf))
	// Output:
	// id: 1764158400123
	// data: hello
}

// A handler reads the ID a reconnecting client resumes from, whether it
// came as the Last-Event-ID header or the lastEventId query parameter.
func ExampleLastEventID() {
	r := httptest.NewRequest(http.MethodGet, "/events?topic=chat&lastEventId=41", nil)
	fmt.Println(sse.LastEventID(r))
	r.Header.Set("Last-Event-ID", "42")
	fmt.Println(sse.LastEventID(r))
	// Output:
	// 41
	// 42
}

// A client that reconnects seeds the new connection's Decoder with the ID
// it resumes from, so an event without an "id" field still reports it.
func ExampleDecoder_SetLastEventID() {
	dec := sse.NewDecoder(strings.NewReader("data: after 41\n\nid: 43\ndata: next\n\n"))
	if err := dec.SetLastEventID("41"); err != nil {
		fmt.Println(err)
		return
	}
	for {
		ev, err := dec.Next()
		if err != nil {
			break
		}
		fmt.Printf("id=%s data=%s\n", ev.ID, ev.Data)
	}
	// Output:
	// id=41 data=after 41
	// id=43 data=next
}
