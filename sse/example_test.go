package sse_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/heraldsse/herald/sse"
)

// A handler as short as the tutorial's Flask generator: it counts, sending
// each count as JSON. A real one would wait between events, selecting on
// st.Done() to stop when the client goes.
func ExampleOpen() {
	counter := func(w http.ResponseWriter, r *http.Request) {
		st, err := sse.Open(w, r, nil)
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
