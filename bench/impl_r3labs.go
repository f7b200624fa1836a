package main

import (
	"context"
	"net/http"
	"sync/atomic"

	sse "github.com/r3labs/sse/v2"
)

// r3labsImpl is github.com/r3labs/sse/v2's Server with one stream per
// topic, created when its first subscriber arrives (AutoStream). AutoReplay
// is off: herald's bench configuration keeps only a bounded ring, while
// r3labs' event log would grow without bound. Subscribers are counted with
// the OnSubscribe and OnUnsubscribe callbacks. Its query parameter is
// ?stream=, not ?topic=.
type r3labsImpl struct {
	srv  *sse.Server
	subs atomic.Int64
}

func newR3labs(history int) *r3labsImpl {
	x := &r3labsImpl{}
	x.srv = sse.NewWithCallback(
		func(string, *sse.Subscriber) { x.subs.Add(1) },
		func(string, *sse.Subscriber) { x.subs.Add(-1) },
	)
	x.srv.AutoStream = true
	// storm: its event log, which keeps every event (the storm publishes
	// exactly the history the others keep).
	x.srv.AutoReplay = history > 0
	return x
}

func (x *r3labsImpl) handler() http.Handler   { return x.srv }
func (x *r3labsImpl) subscribePrefix() string { return "/events?stream=" }
func (x *r3labsImpl) subscribers() int        { return int(x.subs.Load()) }

func (x *r3labsImpl) publish(_ context.Context, topic, data string) error {
	x.srv.Publish(topic, &sse.Event{Data: []byte(data)})
	return nil
}

func (x *r3labsImpl) close() { x.srv.Close() }
