package hub_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/sse"
	"github.com/heraldsse/herald/store/memory"
)

// connPair returns both ends of a loopback TCP connection: the one a
// server would hand to ServeConn, and the client's.
func connPair(t *testing.T) (server, client net.Conn) {
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
func pipePair(t *testing.T) (server, client net.Conn) {
	server, client = net.Pipe()
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

// served subscribes to topics and serves the subscription on a fresh
// connection; ended receives the reason the stream ended.
func served(t *testing.T, h *hub.Hub, pair func(*testing.T) (net.Conn, net.Conn), opts hub.ConnOptions, topics ...string) (sub *hub.Subscription, client net.Conn, ended <-chan error) {
	t.Helper()
	sub, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	srv, client := pair(t)
	ch := make(chan error, 1)
	opts.OnEnd = func(err error) { ch <- err }
	sub.ServeConn(srv, opts)
	return sub, client, ch
}

func waitEnd(t *testing.T, ended <-chan error) error {
	t.Helper()
	select {
	case err := <-ended:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the stream did not end")
		return nil
	}
}

// TestServeConnStreams checks what a client reads from a served
// connection, with and without a descriptor to write to directly: the
// head, a retry hint, then the events in order.
func TestServeConnStreams(t *testing.T) {
	for name, pair := range map[string]func(*testing.T) (net.Conn, net.Conn){"tcp": connPair, "pipe": pipePair} {
		t.Run(name, func(t *testing.T) {
			h := newHub(t, hub.Options{Retry: 2 * time.Second, Heartbeat: -1})
			_, client, _ := served(t, h, pair, hub.ConnOptions{Head: []byte("HTTP/1.1 200 OK\r\n\r\n")}, "a")
			br := bufio.NewReader(client)
			line, err := br.ReadString('\n')
			if err != nil || line != "HTTP/1.1 200 OK\r\n" {
				t.Fatalf("head: %q, %v", line, err)
			}
			if line, _ = br.ReadString('\n'); line != "\r\n" {
				t.Fatalf("head ends with %q", line)
			}
			dec := sse.NewDecoder(br)
			const n = 500
			go func() {
				for i := range n {
					if _, err := h.Publish(context.Background(), hub.Message{Topic: "a", Data: fmt.Sprint(i)}); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			for i := range n {
				ev, err := dec.Next()
				if err != nil {
					t.Fatalf("event %d: %v", i, err)
				}
				if ev.Data != fmt.Sprint(i) {
					t.Fatalf("event %d has data %q", i, ev.Data)
				}
			}
			if d, ok := dec.Retry(); !ok || d != 2*time.Second {
				t.Errorf("retry = %v, %v; want 2s", d, ok)
			}
		})
	}
}

// TestServeConnClientGone checks that a client closing its connection ends
// the subscription at once, without waiting for a write to fail.
func TestServeConnClientGone(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: -1})
	sub, client, ended := served(t, h, connPair, hub.ConnOptions{}, "a")
	client.Close()
	err := waitEnd(t, ended)
	if !errors.Is(err, hub.ErrUnsubscribed) {
		t.Errorf("ended with %v, want ErrUnsubscribed", err)
	}
	<-sub.Done()
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left", n)
	}
}

// TestServeConnClientFlood: a client that keeps sending after its request
// is cut off, and one that sends a little is not.
func TestServeConnClientFlood(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: -1})
	sub, client, ended := served(t, h, connPair, hub.ConnOptions{}, "a")
	if _, err := client.Write([]byte("GET /again HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: "still here"}); err != nil {
		t.Fatal(err)
	}
	dec := sse.NewDecoder(client)
	if ev, err := dec.Next(); err != nil || ev.Data != "still here" {
		t.Fatalf("after a few bytes: %+v, %v", ev, err)
	}
	if sub.Err() != nil {
		t.Fatalf("ended after a few bytes: %v", sub.Err())
	}
	go func() {
		junk := []byte(strings.Repeat("x", 1024))
		for range 64 {
			if _, err := client.Write(junk); err != nil {
				return
			}
		}
	}()
	if err := waitEnd(t, ended); !errors.Is(err, hub.ErrUnsubscribed) {
		t.Errorf("flooding client ended with %v", err)
	}
}

// TestServeConnSlowClientAlone checks that a client which stops reading is
// cut off as too slow, told why when it can still be told, and holds up
// no one else on the same writers.
func TestServeConnSlowClientAlone(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: -1, QueueSize: 100})
	_, _, slowEnded := served(t, h, connPair, hub.ConnOptions{WriteTimeout: 200 * time.Millisecond}, "a")
	var fast []*sse.Decoder
	for range 4 {
		_, c, _ := served(t, h, connPair, hub.ConnOptions{}, "a")
		fast = append(fast, sse.NewDecoder(c))
	}
	// Each event goes out once every fast client has read the one before:
	// they keep pace, and the slow one falls behind by the whole stream,
	// 6.4 MB, more than loopback buffers hold for a client that does not read.
	data := strings.Repeat("x", 16<<10)
	const n = 400
	for i := range n {
		if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: data}); err != nil {
			t.Fatal(err)
		}
		for j, d := range fast {
			if _, err := d.Next(); err != nil {
				t.Fatalf("fast client %d, event %d: %v", j, i, err)
			}
		}
	}
	if err := waitEnd(t, slowEnded); !errors.Is(err, hub.ErrSlowSubscriber) {
		t.Errorf("slow client ended with %v, want ErrSlowSubscriber", err)
	}
	if n := h.Stats().SlowDisconnects; n != 1 {
		t.Errorf("SlowDisconnects = %d, want 1", n)
	}
}

// TestServeConnHubClose checks shutdown: pending events, then a jittered
// retry hint, then the connection closes, and Close waits for it.
func TestServeConnHubClose(t *testing.T) {
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), Heartbeat: -1, Retry: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, client, ended := served(t, h, connPair, hub.ConnOptions{}, "a")
	late, err := h.Subscribe(t.Context(), hub.SubscribeRequest{Topics: []string{"a"}})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-ended:
		if !errors.Is(err, hub.ErrClosed) {
			t.Errorf("ended with %v", err)
		}
	default:
		t.Fatal("Close returned before the stream's end was reported")
	}
	body, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	dec := sse.NewDecoder(strings.NewReader(string(body)))
	for i := range 3 {
		if ev, err := dec.Next(); err != nil || ev.Data != fmt.Sprint(i) {
			t.Fatalf("event %d: %+v, %v", i, ev, err)
		}
	}
	if _, err := dec.Next(); err != io.EOF {
		t.Fatalf("after the events: %v", err)
	}
	if d, _ := dec.Retry(); d < time.Second || d > 2*time.Second {
		t.Errorf("last retry hint %v, want between 1s and 2s", d)
	}

	// A connection handed over after Close is closed at once.
	srv, client2 := connPair(t)
	lateEnded := make(chan error, 1)
	late.ServeConn(srv, hub.ConnOptions{OnEnd: func(err error) { lateEnded <- err }})
	if err := waitEnd(t, lateEnded); !errors.Is(err, hub.ErrClosed) {
		t.Errorf("late connection ended with %v", err)
	}
	if b, _ := io.ReadAll(client2); len(b) != 0 {
		t.Errorf("late connection got %q", b)
	}
}

// TestServeConnHeartbeatAndComment checks the shared clock's heartbeat on
// an idle connection, and CloseWithComment's last words.
func TestServeConnHeartbeatAndComment(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: 20 * time.Millisecond})
	sub, client, ended := served(t, h, connPair, hub.ConnOptions{}, "a")
	br := bufio.NewReader(client)
	if line, err := br.ReadString('\n'); err != nil || !strings.HasPrefix(line, "retry:") {
		t.Fatalf("first line %q, %v", line, err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != "\n" {
		t.Fatalf("retry hint ends with %q, %v", line, err)
	}
	if line, err := br.ReadString('\n'); err != nil || line != ":\n" {
		t.Fatalf("heartbeat %q, %v", line, err)
	}
	sub.CloseWithComment("bye now")
	rest, _ := io.ReadAll(br)
	if !strings.HasSuffix(string(rest), ": bye now\n") {
		t.Errorf("stream ends with %q", rest)
	}
	if err := waitEnd(t, ended); !errors.Is(err, hub.ErrUnsubscribed) {
		t.Errorf("ended with %v", err)
	}
}

// TestServeConnCountsWriteWaits checks that a client slow to read shows in
// Stats.WriteWaits, which operators watch through /metrics.
func TestServeConnCountsWriteWaits(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: -1, QueueSize: 1 << 16})
	_, client, _ := served(t, h, connPair, hub.ConnOptions{WriteTimeout: time.Minute}, "a")
	data := strings.Repeat("x", 64<<10)
	for h.Stats().WriteWaits == 0 {
		if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: data}); err != nil {
			t.Fatal(err)
		}
		// Let the writers take it before publishing the next.
		for st := h.Stats(); st.Delivered < st.Published && st.WriteWaits == 0; st = h.Stats() {
			runtime.Gosched()
		}
		if h.Stats().Published > 1000 {
			t.Fatal("64 MB went out without a write waiting on a client that does not read")
		}
	}
	// Reading again lets the stream go on: every event arrives.
	dec := sse.NewDecoder(client)
	dec.SetMaxSize(1 << 20)
	for i := uint64(0); i < h.Stats().Published; i++ {
		if _, err := dec.Next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// TestServeConnAllocationsPerEvent checks that delivering costs no
// allocation per subscriber: publishing an event to 1 or to 50 served
// connections allocates the same few objects (the event's, once).
func TestServeConnAllocationsPerEvent(t *testing.T) {
	allocs := func(n int) float64 {
		h := newHub(t, hub.Options{Heartbeat: -1})
		var received atomic.Uint64
		changed := make(chan struct{}, 1)
		for range n {
			_, c, _ := served(t, h, connPair, hub.ConnOptions{}, "a")
			go countEvents(c, &received, changed)
		}
		want := uint64(n) // each stream starts with a retry hint, counted as one
		wait := func() {
			for received.Load() < want {
				<-changed
			}
		}
		wait()
		msg := hub.Message{Topic: "a", Data: `{"n": 1}`}
		publish := func() {
			if _, err := h.Publish(context.Background(), msg); err != nil {
				t.Fatal(err)
			}
			want += uint64(n)
			wait()
		}
		for range 100 { // grow every queue array and buffer to its working size
			publish()
		}
		return testing.AllocsPerRun(200, publish)
	}
	one, fifty := allocs(1), allocs(50)
	t.Logf("allocations per event: %.2f to 1 subscriber, %.2f to 50", one, fifty)
	if fifty > one+1 {
		t.Errorf("an event to 50 subscribers allocates %.2f objects, to 1 subscriber %.2f: delivery allocates", fifty, one)
	}
}

// TestServeConnChurnRaces hands over and ends connections in every way at
// once, while events flow, then closes the hub: each stream's end must be
// reported exactly once, Close must wait for all of them, and nothing may
// be left subscribed. Run it with -race.
func TestServeConnChurnRaces(t *testing.T) {
	h, err := hub.New(hub.Options{Log: memory.New(memory.Options{}), Heartbeat: 5 * time.Millisecond, QueueSize: 50})
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	published := make(chan struct{})
	go func() {
		defer close(published)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := h.Publish(context.Background(), hub.Message{Topic: fmt.Sprintf("t/%d", i%3), Data: "x"}); err != nil {
				return
			}
		}
	}()

	const workers, cycles = 8, 25
	var opened, ended, twice atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range cycles {
				sub, err := h.Subscribe(context.Background(), hub.SubscribeRequest{Topics: []string{"t/*"}})
				if err != nil {
					t.Error(err)
					return
				}
				srv, client := connPair(t)
				var once atomic.Bool
				opened.Add(1)
				sub.ServeConn(srv, hub.ConnOptions{WriteTimeout: 50 * time.Millisecond, OnEnd: func(error) {
					if once.Swap(true) {
						twice.Add(1)
					}
					ended.Add(1)
				}})
				switch (w + i) % 5 {
				case 0: // the client leaves at once
					client.Close()
				case 1: // the client reads a little, then leaves
					buf := make([]byte, 256)
					_, _ = client.Read(buf)
					client.Close()
				case 2: // the server ends it
					sub.Close()
				case 3:
					sub.CloseWithComment("bye")
				case 4: // the client never reads: slow, or still open at hub close
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-published
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := h.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got, want := ended.Load(), opened.Load(); got != want || twice.Load() != 0 {
		t.Errorf("%d streams opened, %d ends reported, %d reported twice", want, got, twice.Load())
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left after Close", n)
	}
}

// TestServeConnNoHeartbeatWhileActive checks that a stream carrying events
// more often than the heartbeat interval gets no heartbeats: proxies see
// traffic anyway, and each heartbeat is a write. (An event every 3 ms for
// 20 intervals of 30 ms; a stall of a whole interval on a loaded machine
// may let one or two through.)
func TestServeConnNoHeartbeatWhileActive(t *testing.T) {
	h := newHub(t, hub.Options{Heartbeat: 30 * time.Millisecond})
	_, client, _ := served(t, h, connPair, hub.ConnOptions{}, "a")
	beats := make(chan int, 1)
	go func() {
		n := 0
		br := bufio.NewReader(client)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				beats <- n
				return
			}
			if line == ":\n" {
				n++
			}
		}
	}()
	tick := time.NewTicker(3 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(600 * time.Millisecond); time.Now().Before(end); {
		<-tick.C
		if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	client.SetReadDeadline(time.Now()) // end the reader
	if n := <-beats; n > 2 {
		t.Errorf("%d heartbeats on a stream with an event every 3 ms", n)
	}
}
