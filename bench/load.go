package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// loadCmd is one command the harness sends a load process, as a JSON line.
type loadCmd struct {
	// Op is connect, status, expect, wait, hist, churn or close.
	Op string `json:"op"`
	// Addr and Target say where to connect: host:port and request target.
	Addr   string `json:"addr,omitempty"`
	Target string `json:"target,omitempty"`
	// N is how many subscribers connect.
	N int `json:"n,omitempty"`
	// Expect is the number of timed events every subscriber should have
	// received, for wait; Latency turns on the latency histogram.
	Expect  int64 `json:"expect,omitempty"`
	Latency bool  `json:"latency,omitempty"`
	// TimeoutMS and StallMS bound a wait; DurationMS and Workers shape churn.
	TimeoutMS  int64 `json:"timeout_ms,omitempty"`
	StallMS    int64 `json:"stall_ms,omitempty"`
	DurationMS int64 `json:"duration_ms,omitempty"`
	Workers    int   `json:"workers,omitempty"`
	// Proto and PerConn say how connect's subscribers connect (h2.go).
	Proto   string `json:"proto,omitempty"`
	PerConn int    `json:"per_conn,omitempty"`
	// LastEventID is sent by connect's subscribers; Seq, when positive,
	// makes each of them check that it gets events 1..Seq once and in
	// order, and Expect on connect sets their target before they dial
	// (storm.go).
	LastEventID string `json:"last_event_id,omitempty"`
	Seq         int    `json:"seq,omitempty"`
}

// loadReply answers one loadCmd.
type loadReply struct {
	Err string `json:"err,omitempty"`

	Connected int         `json:"connected"` // connect: requests sent
	Failed    int         `json:"failed"`    // connect: dials or writes that failed
	FirstErr  string      `json:"first_error,omitempty"`
	Open      int         `json:"open"`           // subscribers whose connection is up
	HeadOK    int         `json:"head_ok"`        // subscribers that got a 200 head
	BadStatus int         `json:"bad_status"`     // subscribers that got another status
	Closed    int         `json:"closed"`         // subscribers whose connection ended
	Warm      int         `json:"warm"`           // open subscribers that got a warm-up event
	Events    int64       `json:"events"`         // timed events received in all
	Done      bool        `json:"done"`           // wait: every subscriber reached Expect
	DoneAtNS  int64       `json:"done_at_ns"`     // wait: when the last one did (Unix ns)
	Short     int         `json:"short"`          // wait: subscribers below Expect
	Missing   int64       `json:"missing"`        // wait: events they lack
	Hist      [][2]uint64 `json:"hist,omitempty"` // hist: latency bins (µs)

	Cycles      int64 `json:"cycles"`       // churn: connect/disconnect cycles completed
	CycleErrors int64 `json:"cycle_errors"` // churn: cycles that failed
	ElapsedNS   int64 `json:"elapsed_ns"`

	Seq seqReply `json:"seq"` // with Seq: order and uniqueness (storm.go)
}

// loadRole runs a load generator: it reads commands from in and answers
// each on out, until in closes or ctx ends, then closes every connection.
func loadRole(ctx context.Context, index int, in io.Reader, out io.Writer) error {
	g := &gen{index: index}
	defer g.closeAll()
	// The stdin reader ends when stdin closes, or with the process if ctx
	// ends first while it is blocked in a read.
	lines := make(chan []byte)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			select {
			case lines <- append([]byte(nil), sc.Bytes()...):
			case <-ctx.Done():
				return
			}
		}
	}()
	enc := json.NewEncoder(out)
	for {
		var line []byte
		var ok bool
		select {
		case <-ctx.Done():
			return ctx.Err()
		case line, ok = <-lines:
			if !ok {
				return nil
			}
		}
		var c loadCmd
		var r loadReply
		if err := json.Unmarshal(line, &c); err != nil {
			r.Err = err.Error()
		} else {
			r = g.do(ctx, c)
		}
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
}

// gen is a load generator's state: its subscribers and their counters.
type gen struct {
	index   int
	nextSrc atomic.Uint32

	mu      sync.Mutex
	clients []*client
	readers sync.WaitGroup

	target    atomic.Int64 // events each subscriber should reach
	remaining atomic.Int64 // subscribers still below target
	doneAt    atomic.Int64 // when remaining reached zero
	latency   atomic.Bool
	hist      histogram

	headOK, badStatus, closed atomic.Int64
}

func (g *gen) do(ctx context.Context, c loadCmd) loadReply {
	switch c.Op {
	case "connect":
		return g.connect(ctx, c)
	case "status":
		return g.status()
	case "expect":
		g.expect(c.Expect, c.Latency)
		return g.status()
	case "wait":
		return g.wait(ctx, time.Duration(c.TimeoutMS)*time.Millisecond, time.Duration(c.StallMS)*time.Millisecond)
	case "hist":
		return loadReply{Hist: g.hist.take()}
	case "churn":
		return g.churn(ctx, c.Addr, c.Target, c.Workers, time.Duration(c.DurationMS)*time.Millisecond)
	case "close":
		g.closeAll()
		return g.status()
	}
	return loadReply{Err: fmt.Sprintf("unknown op %q", c.Op)}
}

// dial connects from the next source address in 127.0.0.2-127.0.0.254 and
// sends a subscribe request.
func (g *gen) dial(ctx context.Context, addr, target string) (net.Conn, error) {
	return g.dialWith(ctx, loadCmd{Addr: addr, Target: target})
}

// dialTCP connects from the next source address in 127.0.0.2-127.0.0.254.
func (g *gen) dialTCP(ctx context.Context, addr string) (net.Conn, error) {
	n := g.nextSrc.Add(1) + uint32(g.index)*97
	src := net.IPv4(127, 0, 0, byte(2+n%253))
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}, Timeout: 10 * time.Second}
	return d.DialContext(ctx, "tcp", addr)
}

// dialWith sends a subscribe request as c says: over TLS with c.Proto
// "h1tls", with c.LastEventID.
func (g *gen) dialWith(ctx context.Context, c loadCmd) (net.Conn, error) {
	addr, target := c.Addr, c.Target
	conn, err := g.dialTCP(ctx, addr)
	if err != nil {
		return nil, err
	}
	if c.Proto == "h1tls" {
		if conn, err = tlsHandshake(ctx, conn, "http/1.1"); err != nil {
			return nil, err
		}
	}
	req := "GET " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nAccept: text/event-stream\r\nCache-Control: no-cache\r\n"
	if c.LastEventID != "" {
		req += "Last-Event-ID: " + c.LastEventID + "\r\n"
	}
	req += "\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		conn.Close()
		return nil, err
	}
	return conn, nil
}

// connect opens n subscribers, 64 dials at a time, and returns once every
// request is sent; it does not wait for response heads (go-sse sends its
// head with the first event).
func (g *gen) connect(ctx context.Context, cmd loadCmd) loadReply {
	n := cmd.N
	if cmd.Expect > 0 {
		g.expectNew(cmd.Expect, n)
	}
	if cmd.Proto == "h2" {
		return g.connectH2(ctx, cmd)
	}
	var (
		mu        sync.Mutex
		r         loadReply
		wg        sync.WaitGroup
		next      atomic.Int64
		parallel  = min(64, n)
		dialCtx   context.Context
		cancelAll context.CancelFunc
	)
	dialCtx, cancelAll = context.WithTimeout(ctx, 2*time.Minute)
	defer cancelAll()
	for range parallel {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				conn, err := g.dialWith(dialCtx, cmd)
				mu.Lock()
				if err != nil {
					r.Failed++
					if r.FirstErr == "" {
						r.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				r.Connected++
				mu.Unlock()
				g.addClient(conn, cmd.Seq)
			}
		})
	}
	wg.Wait()
	s := g.status()
	s.Connected, s.Failed, s.FirstErr = r.Connected, r.Failed, r.FirstErr
	return s
}

// addClient starts reading a subscriber's connection; seq > 0 checks its
// events' order (storm.go).
func (g *gen) addClient(conn net.Conn, seq int) {
	c := &client{conn: conn, seq: newSeqCheck(seq)}
	g.mu.Lock()
	g.clients = append(g.clients, c)
	g.mu.Unlock()
	g.readers.Go(func() { g.read(c) })
}

func (g *gen) snapshot() []*client {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.clients
}

func (g *gen) status() loadReply {
	r := loadReply{
		HeadOK:    int(g.headOK.Load()),
		BadStatus: int(g.badStatus.Load()),
		Closed:    int(g.closed.Load()),
	}
	for _, c := range g.snapshot() {
		if !c.gone.Load() {
			r.Open++
			if c.warm.Load() > 0 {
				r.Warm++
			}
		}
		r.Events += c.events.Load()
	}
	return r
}

// expect sets how many timed events every subscriber should reach. Call it
// while no events are flowing.
func (g *gen) expect(n int64, latency bool) {
	g.latency.Store(latency)
	g.target.Store(n)
	g.doneAt.Store(0)
	var below int64
	for _, c := range g.snapshot() {
		if c.events.Load() < n {
			below++
		}
	}
	g.remaining.Store(below)
	if below == 0 {
		g.doneAt.Store(time.Now().UnixNano())
	}
}

// wait returns once every subscriber has reached the target, or no event
// arrived for stall, or timeout passed, whichever is first.
func (g *gen) wait(ctx context.Context, timeout, stall time.Duration) loadReply {
	start := time.Now()
	deadline := start.Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last int64 = -1
	lastChange := start
	for g.remaining.Load() > 0 {
		var sum int64
		for _, c := range g.snapshot() {
			sum += c.events.Load()
		}
		now := time.Now()
		if sum != last {
			last, lastChange = sum, now
		}
		if now.After(deadline) || now.Sub(lastChange) > stall {
			break
		}
		select {
		case <-ctx.Done():
			return loadReply{Err: ctx.Err().Error()}
		case <-tick.C:
		}
	}
	r := g.status()
	target := g.target.Load()
	for _, c := range g.snapshot() {
		if n := c.events.Load(); n < target {
			r.Short++
			r.Missing += target - n
		}
	}
	r.Done = r.Short == 0
	r.Seq = g.seqStatus()
	if r.Done {
		r.DoneAtNS = g.doneAt.Load()
	}
	r.ElapsedNS = int64(time.Since(start))
	return r
}

func (g *gen) closeAll() {
	for _, c := range g.snapshot() {
		c.conn.Close()
	}
	g.readers.Wait()
}

// client is one subscriber: its connection, its counters, and the state of
// the minimal response parser that runs in its reader goroutine.
type client struct {
	conn   net.Conn
	events atomic.Int64 // timed events received
	warm   atomic.Int64 // warm-up events received
	gone   atomic.Bool
	seq    *seqCheck // with loadCmd.Seq (storm.go)

	chunked bool
	cstate  uint8 // chunkSize, chunkData, chunkEnd
	cext    bool  // skipping a chunk extension
	csize   int

	line    [32]byte // the first bytes of the current line
	lineN   int      // the current line's length so far
	hasData bool     // the current event has had a data line
	isWarm  bool     // its first data line was not a timestamp
	ts      int64    // its send time, Unix ns
}

const (
	chunkSize = iota
	chunkData
	chunkEnd
)

var errHead = errors.New("response head too large")

// read runs for one subscriber until its connection ends.
func (g *gen) read(c *client) {
	defer func() {
		c.gone.Store(true)
		g.closed.Add(1)
		c.conn.Close()
	}()
	buf := make([]byte, 2048)
	n, head, err := readHead(c.conn, buf)
	if err != nil {
		return
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")) && !bytes.HasPrefix(head, []byte("HTTP/1.0 200 ")) {
		g.badStatus.Add(1)
		return
	}
	g.headOK.Add(1)
	c.chunked = bytes.Contains(bytes.ToLower(head), []byte("\r\ntransfer-encoding: chunked\r\n"))
	now := time.Now().UnixNano()
	if !g.feed(c, buf[len(head):n], now) {
		return
	}
	for {
		m, err := c.conn.Read(buf)
		if m > 0 {
			if !g.feed(c, buf[:m], time.Now().UnixNano()) {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// readHead reads until the end of the response head into buf; it returns
// how many bytes buf holds and the head, its final blank line included.
func readHead(conn net.Conn, buf []byte) (int, []byte, error) {
	n := 0
	for {
		m, err := conn.Read(buf[n:])
		n += m
		if i := bytes.Index(buf[:n], []byte("\r\n\r\n")); i >= 0 {
			return n, buf[:i+4], nil
		}
		if err != nil {
			return n, nil, err
		}
		if n == len(buf) {
			return n, nil, errHead
		}
	}
}

// feed parses body bytes, undoing chunked encoding when the response used
// it. It reports false when the body ended.
func (g *gen) feed(c *client, p []byte, now int64) bool {
	if !c.chunked {
		g.parse(c, p, now)
		return true
	}
	for len(p) > 0 {
		switch c.cstate {
		case chunkSize:
			b := p[0]
			p = p[1:]
			switch {
			case b == '\n':
				if c.csize == 0 {
					return false
				}
				c.cstate, c.cext = chunkData, false
			case c.cext || b == '\r':
			case b >= '0' && b <= '9':
				c.csize = c.csize<<4 | int(b-'0')
			case b >= 'a' && b <= 'f':
				c.csize = c.csize<<4 | int(b-'a'+10)
			case b >= 'A' && b <= 'F':
				c.csize = c.csize<<4 | int(b-'A'+10)
			default:
				c.cext = true
			}
		case chunkData:
			k := min(c.csize, len(p))
			g.parse(c, p[:k], now)
			p = p[k:]
			c.csize -= k
			if c.csize == 0 {
				c.cstate = chunkEnd
			}
		case chunkEnd:
			if p[0] == '\n' {
				c.cstate = chunkSize
			}
			p = p[1:]
		}
	}
	return true
}

// parse reads SSE lines: it counts an event at each blank line that ends
// an event with data, and takes the send time from its first data line.
func (g *gen) parse(c *client, p []byte, now int64) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		seg := p
		if i >= 0 {
			seg = p[:i]
		}
		if c.lineN < len(c.line) {
			copy(c.line[c.lineN:], seg)
		}
		c.lineN += len(seg)
		if i < 0 {
			return
		}
		p = p[i+1:]
		g.endLine(c, now)
	}
}

func (g *gen) endLine(c *client, now int64) {
	n := c.lineN
	c.lineN = 0
	if n > len(c.line) {
		n = len(c.line)
	} else if n > 0 && c.line[n-1] == '\r' {
		n--
	}
	l := c.line[:n]
	switch {
	case n == 0:
		if c.hasData {
			g.event(c, now)
		}
		c.hasData = false
	case c.hasData:
	case bytes.HasPrefix(l, []byte("data:")):
		c.hasData = true
		v := l[5:]
		if len(v) > 0 && v[0] == ' ' {
			v = v[1:]
		}
		var ts int64
		digits := 0
		for _, b := range v {
			if b < '0' || b > '9' {
				break
			}
			ts = ts*10 + int64(b-'0')
			digits++
		}
		c.isWarm, c.ts = digits == 0, ts
	}
}

func (g *gen) event(c *client, now int64) {
	if c.isWarm {
		c.warm.Add(1)
		return
	}
	if c.seq != nil {
		c.seq.see(c.ts)
	}
	n := c.events.Add(1)
	if g.latency.Load() {
		g.hist.record((now - c.ts) / 1000)
	}
	if n == g.target.Load() && g.remaining.Add(-1) == 0 {
		g.doneAt.Store(now)
	}
}

// churn runs workers that connect, read the response head, and disconnect,
// until d has passed. Failures are counted by kind.
func (g *gen) churn(ctx context.Context, addr, target string, workers int, d time.Duration) loadReply {
	var (
		cycles, failed atomic.Int64
		mu             sync.Mutex
		kinds          = map[string]int{}
		wg             sync.WaitGroup
	)
	start := time.Now()
	end := start.Add(d)
	ctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	fail := func(stage string, err error) {
		failed.Add(1)
		mu.Lock()
		kinds[stage+": "+errKind(err)]++
		mu.Unlock()
	}
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 2048)
			for time.Now().Before(end) {
				conn, err := g.dial(ctx, addr, target)
				if err != nil {
					// A dial cut short by the end of the run is not a failure.
					if time.Now().Before(end) {
						fail("dial", err)
					}
					continue
				}
				_ = conn.SetReadDeadline(end.Add(5 * time.Second))
				_, head, err := readHead(conn, buf)
				conn.Close()
				switch {
				case err != nil:
					fail("read head", err)
				case !bytes.HasPrefix(head, []byte("HTTP/1.1 200 ")):
					fail("status", fmt.Errorf("%q", bytes.SplitN(head, []byte("\r\n"), 2)[0]))
				default:
					cycles.Add(1)
				}
			}
		})
	}
	wg.Wait()
	r := loadReply{Cycles: cycles.Load(), CycleErrors: failed.Load(), ElapsedNS: int64(time.Since(start))}
	var ks []string
	for k, n := range kinds {
		ks = append(ks, fmt.Sprintf("%s ×%d", k, n))
	}
	slices.Sort(ks)
	r.FirstErr = strings.Join(ks, "; ")
	return r
}

// errKind names an error without its addresses, so failures group.
func errKind(err error) string {
	for _, e := range []error{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EADDRNOTAVAIL, syscall.EMFILE, syscall.EPIPE, os.ErrDeadlineExceeded, io.EOF, io.ErrUnexpectedEOF, errHead} {
		if errors.Is(err, e) {
			return e.Error()
		}
	}
	return err.Error()
}
