package conn_test

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
	"github.com/heraldsse/herald/internal/conn"
	"github.com/heraldsse/herald/sse"
)

// TestServeStreams checks what a client reads from a served connection,
// with and without a descriptor to write to directly: the head, a retry
// hint, then the events in order.
func TestServeStreams(t *testing.T) {
	for name, pair := range map[string]func(testing.TB) (net.Conn, net.Conn){"tcp": connPair, "pipe": pipePair} {
		t.Run(name, func(t *testing.T) {
			h := newHub(t, hub.Options{Retry: 2 * time.Second})
			e := newEngine(t, conn.Options{Heartbeat: -1})
			_, client, _ := served(t, e, h, pair, "HTTP/1.1 200 OK\r\n\r\n", "a")
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

// TestServeClientGone checks that a client closing its connection ends
// the subscription at once, without waiting for a write to fail.
func TestServeClientGone(t *testing.T) {
	h := newHub(t, hub.Options{})
	e := newEngine(t, conn.Options{Heartbeat: -1})
	sub, client, ended := served(t, e, h, connPair, "", "a")
	client.Close()
	if err := waitEnd(t, ended); !errors.Is(err, conn.ErrClientGone) {
		t.Errorf("ended with %v, want ErrClientGone", err)
	}
	<-sub.Done()
	if err := sub.Err(); !errors.Is(err, conn.ErrClientGone) {
		t.Errorf("subscription ended with %v, want ErrClientGone", err)
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left", n)
	}
	if n := e.Stats().Conns; n != 0 {
		t.Errorf("%d connections still served", n)
	}
}

// TestServeClientFlood: a client that keeps sending after its request is
// cut off, and one that sends a little (a pipelined request) is not.
func TestServeClientFlood(t *testing.T) {
	h := newHub(t, hub.Options{})
	e := newEngine(t, conn.Options{Heartbeat: -1})
	sub, client, ended := served(t, e, h, connPair, "", "a")
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
	if err := waitEnd(t, ended); !errors.Is(err, conn.ErrClientGone) {
		t.Errorf("flooding client ended with %v, want ErrClientGone", err)
	}
}

// TestServeSlowClientAlone checks that a client which stops reading is cut
// off as too slow and holds up no one else, all on one writer.
func TestServeSlowClientAlone(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 100})
	e := newEngine(t, conn.Options{Heartbeat: -1, WriteTimeout: 200 * time.Millisecond, Writers: 1})
	slow, _, slowEnded := served(t, e, h, connPair, "", "a")
	var fast []*sse.Decoder
	for range 4 {
		_, c, _ := served(t, e, h, connPair, "", "a")
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
	// It falls behind either in the kernel's buffers, where a write waits
	// past WriteTimeout, or in its hub queue, which overflows while a write
	// waits: either way it is cut off as slow, once.
	reason := waitEnd(t, slowEnded)
	switch err := slow.Err(); {
	case errors.Is(reason, conn.ErrSlowClient) && errors.Is(err, conn.ErrSlowClient):
	case reason == nil && errors.Is(err, hub.ErrSlowSubscriber):
	default:
		t.Errorf("slow client ended with %v (engine's reason %v), want ErrSlowClient or ErrSlowSubscriber", err, reason)
	}
	if a, b := e.Stats().SlowClients, h.Stats().SlowDisconnects; a+b != 1 {
		t.Errorf("SlowClients %d + SlowDisconnects %d, want 1 in all", a, b)
	}
}

// TestServeHubClose checks shutdown: closing the hub sends each stream its
// pending events, then a jittered retry hint, then the connection closes;
// the engine's Close waits for it, and refuses connections from then on.
func TestServeHubClose(t *testing.T) {
	for name, pair := range map[string]func(testing.TB) (net.Conn, net.Conn){"tcp": connPair, "pipe": pipePair} {
		t.Run(name, func(t *testing.T) {
			h := newHub(t, hub.Options{Retry: time.Second})
			e := conn.New(conn.Options{Heartbeat: -1})
			sub, client, ended := served(t, e, h, pair, "", "a")
			late := subscribe(t, h, "a")
			for i := range 3 {
				if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: fmt.Sprint(i)}); err != nil {
					t.Fatal(err)
				}
			}
			body := make(chan []byte)
			go func() { b, _ := io.ReadAll(client); body <- b }()
			if err := h.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			if err := e.Close(t.Context()); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-ended:
				if err != nil {
					t.Errorf("engine's reason %v, want nil (the hub ended it)", err)
				}
			default:
				t.Fatal("Close returned before the stream's end was reported")
			}
			if err := sub.Err(); !errors.Is(err, hub.ErrClosed) {
				t.Errorf("subscription ended with %v", err)
			}
			dec := sse.NewDecoder(strings.NewReader(string(<-body)))
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
			srv, client2 := pair(t)
			lateEnded := make(chan error, 1)
			e.Serve(srv, nil, late, func(err error) { lateEnded <- err })
			if err := waitEnd(t, lateEnded); !errors.Is(err, conn.ErrClosed) {
				t.Errorf("late connection ended with %v", err)
			}
			if b, _ := io.ReadAll(client2); len(b) != 0 {
				t.Errorf("late connection got %q", b)
			}
		})
	}
}

// TestServeCloseCutsAtDeadline checks that an engine closed while its
// streams' sources are still open waits until its context ends, then ends
// them, sources included.
func TestServeCloseCutsAtDeadline(t *testing.T) {
	h := newHub(t, hub.Options{})
	e := conn.New(conn.Options{Heartbeat: -1})
	sub, _, ended := served(t, e, h, connPair, "", "a")
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := e.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want the deadline", err)
	}
	if err := waitEnd(t, ended); !errors.Is(err, conn.ErrClosed) {
		t.Errorf("ended with %v, want ErrClosed", err)
	}
	if err := sub.Err(); !errors.Is(err, conn.ErrClosed) {
		t.Errorf("subscription ended with %v, want ErrClosed", err)
	}
}

// TestServeHeartbeatAndComment checks the engine's heartbeat on an idle
// connection, and CloseWithComment's last words.
func TestServeHeartbeatAndComment(t *testing.T) {
	h := newHub(t, hub.Options{})
	e := newEngine(t, conn.Options{Heartbeat: 20 * time.Millisecond})
	sub, client, ended := served(t, e, h, connPair, "", "a")
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
	if err := waitEnd(t, ended); err != nil {
		t.Errorf("engine's reason %v, want nil", err)
	}
	if err := sub.Err(); !errors.Is(err, hub.ErrUnsubscribed) {
		t.Errorf("subscription ended with %v", err)
	}
}

// TestServeCountsWriteWaits checks that a client slow to read shows in
// Stats.WriteWaits, which operators watch through /metrics, and that its
// stream goes on, whole, once it reads again.
func TestServeCountsWriteWaits(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 1 << 16})
	e := newEngine(t, conn.Options{Heartbeat: -1, WriteTimeout: time.Minute})
	_, client, _ := served(t, e, h, connPair, "", "a")
	data := strings.Repeat("x", 64<<10)
	for e.Stats().WriteWaits == 0 {
		if _, err := h.Publish(t.Context(), hub.Message{Topic: "a", Data: data}); err != nil {
			t.Fatal(err)
		}
		// Let the writers take it before publishing the next.
		for st := h.Stats(); st.Delivered < st.Published && e.Stats().WriteWaits == 0; st = h.Stats() {
			runtime.Gosched()
		}
		if h.Stats().Published > 1000 {
			t.Fatal("64 MB went out without a write waiting on a client that does not read")
		}
	}
	dec := sse.NewDecoder(client)
	dec.SetMaxSize(1 << 20)
	for i := uint64(0); i < h.Stats().Published; i++ {
		if _, err := dec.Next(); err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
	}
}

// TestServeAllocationsPerEvent checks that delivering costs no allocation
// per subscriber: publishing an event to 1 or to 50 served connections
// allocates the same few objects (the event's, once).
func TestServeAllocationsPerEvent(t *testing.T) {
	allocs := func(n int) float64 {
		h := newHub(t, hub.Options{})
		e := newEngine(t, conn.Options{Heartbeat: -1})
		var received atomic.Uint64
		changed := make(chan struct{}, 1)
		for range n {
			_, c, _ := served(t, e, h, connPair, "", "a")
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

// TestServeChurnRaces hands over and ends connections in every way at
// once, while events flow, then closes the hub and the engine: each
// stream's end must be reported exactly once, Close must wait for all of
// them, and nothing may be left subscribed. Run it with -race.
func TestServeChurnRaces(t *testing.T) {
	h := newHub(t, hub.Options{QueueSize: 50})
	e := conn.New(conn.Options{Heartbeat: 5 * time.Millisecond, WriteTimeout: 50 * time.Millisecond})
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
				sub := subscribe(t, h, "t/*")
				srv, client := connPair(t)
				var once atomic.Bool
				opened.Add(1)
				e.Serve(srv, nil, sub, func(error) {
					if once.Swap(true) {
						twice.Add(1)
					}
					ended.Add(1)
				})
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
				case 4: // the client never reads: slow, or still open at close
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
		t.Fatalf("hub Close: %v", err)
	}
	if err := e.Close(ctx); err != nil {
		t.Fatalf("engine Close: %v", err)
	}
	if got, want := ended.Load(), opened.Load(); got != want || twice.Load() != 0 {
		t.Errorf("%d streams opened, %d ends reported, %d reported twice", want, got, twice.Load())
	}
	if n := h.Stats().Subscribers; n != 0 {
		t.Errorf("%d subscribers left after Close", n)
	}
	if n := e.Stats().Conns; n != 0 {
		t.Errorf("%d connections left after Close", n)
	}
}

// TestServeNoHeartbeatWhileActive checks that a stream carrying events
// more often than the heartbeat interval gets no heartbeats: proxies see
// traffic anyway, and each heartbeat is a write. (An event every 3 ms for
// 20 intervals of 30 ms; a stall of a whole interval on a loaded machine
// may let one or two through.)
func TestServeNoHeartbeatWhileActive(t *testing.T) {
	h := newHub(t, hub.Options{})
	e := newEngine(t, conn.Options{Heartbeat: 30 * time.Millisecond})
	_, client, _ := served(t, e, h, connPair, "", "a")
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
