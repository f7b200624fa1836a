package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/client"
	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
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

// Publish an event to a herald hub, and read why the hub refuses one.
func ExamplePublish() {
	log := memory.New(memory.Options{})
	defer log.Close()
	h, _ := hub.New(hub.Options{Log: log})
	srv, _ := server.New(server.Options{Hub: h})
	ts := httptest.NewServer(srv)
	defer ts.Close()
	defer srv.Close(context.Background()) // after the hub's Close, deferred next
	defer h.Close(context.Background())
	ctx := context.Background()

	id, err := client.Publish(ctx, ts.URL, api.PublishRequest{Topic: "chat/lobby", Data: api.Text("hi")}, client.PublishOptions{})
	fmt.Println(id != "", err)

	_, err = client.Publish(ctx, ts.URL, api.PublishRequest{Topic: "chat/*", Data: api.Text("hi")}, client.PublishOptions{})
	var se *client.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode, se.Message)
	}
	// Output:
	// true <nil>
	// 400 hub: invalid topic "chat/*": '*' is a wildcard, for subscribing only
}
