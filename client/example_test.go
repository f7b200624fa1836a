package client_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/heraldsse/herald/client"
)

// A server streams two events and ends the stream; the Conn reconnects
// with Last-Event-ID, gets one more event, and stops when the server
// answers 204 No Content.
func ExampleConn_Events() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		switch r.Header.Get("Last-Event-ID") {
		case "":
			io.WriteString(w, "retry: 10\n\nid: 1\ndata: hello\n\nid: 2\nevent: greeting\ndata: bonjour\n\n")
		case "2":
			io.WriteString(w, "id: 3\ndata: again\n\n")
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	}))
	defer srv.Close()

	c, err := client.New(srv.URL, client.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	for ev, err := range c.Events(context.Background()) {
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("id=%s type=%q data=%s\n", ev.ID, ev.Type, ev.Data)
	}
	fmt.Println("ended; last event ID", c.LastEventID())
	// Output:
	// id=1 type="" data=hello
	// id=2 type="greeting" data=bonjour
	// id=3 type="" data=again
	// ended; last event ID 3
}
