// Package client is a Go EventSource: it reads a Server-Sent Events stream
// over HTTP with the semantics a browser's EventSource has in the WHATWG
// HTML Standard. It reconnects when the stream ends or the network fails,
// waiting the server's "retry" time, and sends the last event ID it saw as
// Last-Event-ID so the server can resume; an HTTP status other than 200, or
// a response that is not text/event-stream, fails it for good; 204 No
// Content ends it. Failed attempts in a row add an exponential, jittered
// [Backoff]. Events are read with a range-over-func iterator:
//
//	c, err := client.New("http://localhost:8080/events?topic=chat", client.Options{})
//	...
//	for ev, err := range c.Events(ctx) {
//		if err != nil {
//			return err
//		}
//		fmt.Println(ev.Type, ev.Data)
//	}
//
// [Publish] posts one event to a herald hub and returns its ID; a hub that
// refuses it answers a [*StatusError] with herald's status and reason.
// Requests and answers use the shapes of package api, which herald's
// server decodes:
//
//	id, err := client.Publish(ctx, "http://localhost:8080",
//		api.PublishRequest{Topic: "chat/lobby", Data: api.Text("hi")}, client.PublishOptions{})
package client
