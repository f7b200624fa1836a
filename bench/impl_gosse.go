package main

import (
	"context"
	"net/http"
	"sync/atomic"
	"time"

	sse "github.com/tmaxmax/go-sse"
)

// gosseImpl is github.com/tmaxmax/go-sse's default sse.Server, which uses
// its default provider (Joe, no replayer). The topic comes from the
// subscriber's ?topic= query. Joe does not report its subscribers, so a
// wrapper counts the subscribe requests in flight.
//
// go-sse sends the response head with the first event, not on subscribe.
type gosseImpl struct {
	srv  *sse.Server
	open atomic.Int64
}

func newGosse(history int) (*gosseImpl, error) {
	var joe *sse.Joe // nil: the default, with no replayer
	if history > 0 {
		// storm: a FiniteReplayer keeps the newest history events and
		// gives them IDs.
		r, err := sse.NewFiniteReplayer(history, true)
		if err != nil {
			return nil, err
		}
		joe = &sse.Joe{Replayer: r}
	}
	srv := &sse.Server{
		OnSession: func(w http.ResponseWriter, r *http.Request) ([]string, bool) {
			t := r.URL.Query().Get("topic")
			if t == "" {
				http.Error(w, "missing topic", http.StatusBadRequest)
				return nil, false
			}
			return []string{t}, true
		},
	}
	if joe != nil {
		srv.Provider = joe
	}
	return &gosseImpl{srv: srv}, nil
}

func (x *gosseImpl) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.open.Add(1)
		defer x.open.Add(-1)
		x.srv.ServeHTTP(w, r)
	})
}

func (x *gosseImpl) subscribePrefix() string { return "/events?topic=" }
func (x *gosseImpl) subscribers() int        { return int(x.open.Load()) }

func (x *gosseImpl) publish(_ context.Context, topic, data string) error {
	m := &sse.Message{}
	m.AppendData(data)
	return x.srv.Publish(m, topic)
}

func (x *gosseImpl) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = x.srv.Shutdown(ctx)
}
