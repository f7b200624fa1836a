package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

// heraldImpl is herald itself: the real server.Server over a hub with its
// default options on a memory log with its defaults (what herald serve runs
// with no flags), with the subscriber limits raised out of the way.
type heraldImpl struct {
	log *memory.Log
	hub *hub.Hub
	srv *server.Server
}

func newHerald(history int) (*heraldImpl, error) {
	var mo memory.Options
	if history > 0 {
		mo.Retention.MaxEntries = history // storm: the same history as the peers
	}
	return newHeraldWith(mo, hub.Options{})
}

// newHeraldWith is newHerald with the memory log's options mo and the hub
// options hopts (Log and Logger are set here).
func newHeraldWith(mo memory.Options, hopts hub.Options) (*heraldImpl, error) {
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	log := memory.New(mo)
	hopts.Log, hopts.Logger = log, logger
	h, err := hub.New(hopts)
	if err != nil {
		log.Close()
		return nil, err
	}
	srv, err := server.New(server.Options{
		Hub:                     h,
		MaxSubscribers:          1 << 20,
		MaxSubscribersPerClient: 1 << 20,
		Logger:                  logger,
	})
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.Close(ctx)
		log.Close()
		return nil, err
	}
	return &heraldImpl{log: log, hub: h, srv: srv}, nil
}

func (x *heraldImpl) handler() http.Handler   { return x.srv }
func (x *heraldImpl) subscribePrefix() string { return "/events?topic=" }
func (x *heraldImpl) subscribers() int        { return x.hub.Stats().Subscribers }

func (x *heraldImpl) publish(ctx context.Context, topic, data string) error {
	_, err := x.hub.Publish(ctx, hub.Message{Topic: topic, Data: data})
	return err
}

func (x *heraldImpl) close() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = x.hub.Close(ctx)
	_ = x.srv.Close(ctx)
	x.log.Close()
}
