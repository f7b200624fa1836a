package conn_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/internal/conn"
	"github.com/heraldsse/herald/store/memory"
)

// newHub returns a hub on a memory log, closed when the test ends.
func newHub(t testing.TB, opts hub.Options) *hub.Hub {
	t.Helper()
	log := memory.New(memory.Options{})
	opts.Log = log
	h, err := hub.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := h.Close(ctx); err != nil {
			t.Errorf("hub Close: %v", err)
		}
		log.Close()
	})
	return h
}

// newEngine returns an engine closed when the test ends. Cleanups run last
// first, so a hub made before the engine is closed after it: the engine
// then ends what is left at a short deadline.
func newEngine(t testing.TB, opts conn.Options) *conn.Engine {
	t.Helper()
	e := conn.New(opts)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		_ = e.Close(ctx)
	})
	return e
}

// subscribe subscribes to topics on h, failing the test if it cannot.
func subscribe(t testing.TB, h *hub.Hub, topics ...string) *hub.Subscription {
	t.Helper()
	sub, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	return sub
}

// connPair returns both ends of a loopback TCP connection: the one a
// server would hand to Serve, and the client's.
func connPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, ok := <-accepted
	if !ok {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// pipePair is like connPair over net.Pipe, which has no descriptor: every
// write takes the path for clients that read slowly.
func pipePair(t testing.TB) (server, client net.Conn) {
	server, client = net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// served subscribes to topics and has e serve the subscription on a fresh
// connection after head; ended receives the engine's reason the stream
// ended (nil when the subscription ended first).
func served(t testing.TB, e *conn.Engine, h *hub.Hub, pair func(testing.TB) (net.Conn, net.Conn), head string, topics ...string) (sub *hub.Subscription, client net.Conn, ended <-chan error) {
	t.Helper()
	sub = subscribe(t, h, topics...)
	srv, client := pair(t)
	ch := make(chan error, 1)
	e.Serve(srv, []byte(head), sub, func(err error) { ch <- err })
	return sub, client, ch
}

func waitEnd(t testing.TB, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
		return nil
	}
}

// countEvents reads an event stream until it ends, counting the blank
// lines that end events (the retry hint's included, once). After each read
// that counted something it signals changed, if given, without blocking.
func countEvents(c net.Conn, n *atomic.Uint64, changed chan<- struct{}) {
	buf := make([]byte, 32<<10)
	var prev byte
	for {
		m, err := c.Read(buf)
		var k uint64
		for _, b := range buf[:m] {
			if b == '\n' && prev == '\n' {
				k++
			}
			prev = b
		}
		n.Add(k)
		if k > 0 && changed != nil {
			select {
			case changed <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}
