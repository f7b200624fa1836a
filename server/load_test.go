package server_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/sse"
)

// TestThousandSubscribers opens 1,000 streams over real HTTP on loopback,
// publishes 10,000 events across ten topics, and checks that every
// subscriber receives exactly the events its topics and patterns match, in
// publish order. One more subscriber never reads: it is cut off as too slow
// while the others keep their pace. Then a subscriber reconnects with its
// last event ID and misses nothing.
func TestThousandSubscribers(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1,000 connections; skipped with -short")
	}
	const (
		subscribers = 1000
		topics      = 10
		events      = 10_000
	)
	e := newEnv(t, hub.Options{}, server.Options{Heartbeat: -1, MaxSubscribers: 2000, MaxSubscribersPerClient: 2000})
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: 0, DisableCompression: true}}
	t.Cleanup(client.CloseIdleConnections)

	// Subscriber i listens to one exact topic, except every 50th, which
	// listens to the pattern "load/*" (all topics), and every 50th+25,
	// which listens to two exact topics.
	type sub struct {
		topics []string
		want   func(topic int) bool
		got    []string
		n      atomic.Int64
		err    error
	}
	subs := make([]*sub, subscribers)
	for i := range subs {
		k := i % topics
		switch {
		case i%50 == 0:
			subs[i] = &sub{topics: []string{"load/*"}, want: func(int) bool { return true }}
		case i%50 == 25:
			k2 := (k + 1) % topics
			subs[i] = &sub{topics: []string{"load/" + strconv.Itoa(k), "load/" + strconv.Itoa(k2)}, want: func(n int) bool { return n == k || n == k2 }}
		default:
			subs[i] = &sub{topics: []string{"load/" + strconv.Itoa(k)}, want: func(n int) bool { return n == k }}
		}
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	for _, s := range subs {
		q := "topic=" + strings.Join(s.topics, "&topic=")
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/events?"+q, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 {
			t.Fatalf("subscribe %q: %d", q, resp.StatusCode)
		}
		want := 0
		for n := range events {
			if s.want(n % topics) {
				want++
			}
		}
		wg.Go(func() {
			defer resp.Body.Close()
			dec := sse.NewDecoder(resp.Body)
			for len(s.got) < want {
				ev, err := dec.Next()
				if err != nil {
					s.err = err
					return
				}
				s.got = append(s.got, ev.Data)
				s.n.Add(1)
			}
		})
	}
	// One subscriber that never reads, with far more data coming than
	// socket buffers hold.
	stuck, err := net.Dial("tcp", e.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	fmt.Fprintf(stuck, "GET /events?topic=load/**&topic=big HTTP/1.1\r\nHost: x\r\n\r\n")
	waitFor(t, func() bool { return e.hub.Stats().Subscribers == subscribers+1 })
	big := strings.Repeat("x", 128<<10)
	for range 200 {
		if _, err := e.hub.Publish(ctx, hub.Message{Topic: "big", Data: big}); err != nil {
			t.Fatal(err)
		}
	}

	var lastID string
	for n := range events {
		id, err := e.hub.Publish(ctx, hub.Message{Topic: "load/" + strconv.Itoa(n%topics), Data: strconv.Itoa(n) + strings.Repeat(".", 200)})
		if err != nil {
			t.Fatal(err)
		}
		if n == events/2 {
			lastID = id
		}
		// Every 500 events, wait until every reader has caught up: the
		// readers keep pace, while the stuck one's queue (1,000) overflows.
		if (n+1)%500 == 0 {
			waitFor(t, func() bool {
				for _, s := range subs {
					want := int64(0)
					for m := 0; m <= n; m++ {
						if s.want(m % topics) {
							want++
						}
					}
					if s.n.Load() < want {
						return false
					}
				}
				return true
			})
		}
	}
	wg.Wait()
	for i, s := range subs {
		if s.err != nil {
			t.Fatalf("subscriber %d (%q): %v after %d events", i, s.topics, s.err, len(s.got))
		}
		want := 0
		for n := range events {
			if !s.want(n % topics) {
				continue
			}
			if got := strings.TrimRight(s.got[want], "."); got != strconv.Itoa(n) {
				t.Fatalf("subscriber %d (%q): event %d is %s, want %d", i, s.topics, want, got, n)
			}
			want++
		}
	}
	// Cut off by its hub queue or by a write that waited: either counts.
	if n := scrape(t, e.ts.URL)["herald_slow_disconnects_total"]; n != 1 {
		t.Errorf("herald_slow_disconnects_total = %v, want 1 (the subscriber that never reads)", n)
	}

	// Reconnecting with the last event ID replays the rest of the log.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.ts.URL+"/events?topic=load/**", nil)
	req.Header.Set("Last-Event-ID", lastID)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := sse.NewDecoder(resp.Body)
	for n := events/2 + 1; n < events; n++ {
		ev, err := dec.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix([]byte(ev.Data), []byte(strconv.Itoa(n)+".")) {
			t.Fatalf("replayed %.20q, want event %d", ev.Data, n)
		}
	}
}
