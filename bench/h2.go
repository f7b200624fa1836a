package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The h2, h2mux and tls scenarios (issue 17): the idle scenario's memory
// readings and the fanout scenario's bursts, with the subscribers on TLS:
// HTTP/2 with one stream per connection (as browser tabs do: each its own
// connection when they do not share one), HTTP/2 with -h2-per-conn
// streams per connection, and HTTP/1.1 over TLS. The server's certificate
// is self-signed, made in the server process at start.

// h2Config is the TLS scenarios' flags.
type h2Config struct {
	Subs    int
	PerConn int
}

func h2Flags(fs *flag.FlagSet, c *h2Config) {
	fs.IntVar(&c.Subs, "h2-subs", 5000, "h2, h2mux, tls: subscribers (idle readings, then -fanout-bursts bursts)")
	fs.IntVar(&c.PerConn, "h2-per-conn", 100, "h2mux: HTTP/2 streams per connection")
}

func init() {
	rows := append(append([]row(nil), scenarios["idle"].rows[:4]...), scenarios["fanout"].rows[:5]...)
	add := func(name string, what func(config) string, su func(c config) runSetup) {
		scenarios[name] = scenario{
			subs: func(c config) int { return c.H2.Subs },
			title: func(c config, n int) string {
				return fmt.Sprintf("%d subscribers over %s: idle after %v (CPU over %v), then %d bursts of %d events of %d bytes", n, what(c), c.Settle, c.IdleWindow, c.FanoutBursts, c.FanoutEvents, c.Size)
			},
			rows:  rows,
			run:   runTLS,
			setup: su,
		}
		extraScenarios = append(extraScenarios, name)
	}
	tlsArgs := []string{"-tls"}
	add("h2", func(config) string { return "TLS HTTP/2, one stream per connection" }, func(config) runSetup {
		return runSetup{ServerArgs: tlsArgs, Proto: "h2", PerConn: 1}
	})
	add("h2mux", func(c config) string { return fmt.Sprintf("TLS HTTP/2, %d streams per connection", c.H2.PerConn) }, func(c config) runSetup {
		return runSetup{ServerArgs: tlsArgs, Proto: "h2", PerConn: c.H2.PerConn}
	})
	add("tls", func(config) string { return "TLS HTTP/1.1" }, func(config) runSetup {
		return runSetup{ServerArgs: tlsArgs, Proto: "h1tls"}
	})
}

// runTLS takes the idle readings, then runs the fanout bursts on the same
// subscribers.
func runTLS(ctx context.Context, r *run, ir *implResult) error {
	if err := runIdle(ctx, r, ir); err != nil {
		return err
	}
	return measureFanout(ctx, r, ir)
}

// eventsAddr is where subscribers of proto connect.
func (s *serverProc) eventsAddr(proto string) string {
	if proto != "" {
		return s.hello.TLSAddr
	}
	return s.hello.Addr
}

// serveTLS serves srv's handler over TLS on a second listener, offering
// HTTP/2 and HTTP/1.1, and returns its address. srv.Close stops it.
func serveTLS(srv *http.Server, addr string) (string, error) {
	cert, err := selfSigned()
	if err != nil {
		return "", err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}}
	go func() { _ = srv.Serve(tls.NewListener(ln, cfg)) }()
	return ln.Addr().String(), nil
}

// selfSigned makes a certificate for 127.0.0.1, valid for a day.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "bench"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// tlsHandshake runs a TLS client handshake on conn offering only proto; the
// certificate is not checked (it is the server's self-signed one).
func tlsHandshake(ctx context.Context, conn net.Conn, proto string) (net.Conn, error) {
	tc := tls.Client(conn, &tls.Config{InsecureSkipVerify: true, NextProtos: []string{proto}})
	if err := tc.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, err
	}
	if got := tc.ConnectionState().NegotiatedProtocol; got != proto {
		tc.Close()
		return nil, fmt.Errorf("server chose protocol %q, want %q", got, proto)
	}
	return tc, nil
}

// h2Transport is the load process's HTTP/2 client: only its
// NewClientConn is used, so each connection is made on purpose.
var h2Transport = sync.OnceValue(func() *http.Transport {
	var p http.Protocols
	p.SetHTTP2(true)
	return &http.Transport{Protocols: &p, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
})

// connectH2 opens cmd.N subscribers as HTTP/2 streams, cmd.PerConn to a
// connection, 64 connections at a time, and returns once every connection
// is up. Each stream's request is sent by its reader goroutine (go-sse
// answers only with the first event).
func (g *gen) connectH2(ctx context.Context, cmd loadCmd) loadReply {
	per := max(cmd.PerConn, 1)
	groups := (cmd.N + per - 1) / per
	t := h2Transport().Clone()
	t.DialContext = func(ctx context.Context, _, addr string) (net.Conn, error) { return g.dialTCP(ctx, addr) }
	var (
		mu   sync.Mutex
		r    loadReply
		wg   sync.WaitGroup
		next atomic.Int64
	)
	dialCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for range min(64, groups) {
		wg.Go(func() {
			for {
				gi := int(next.Add(1)) - 1
				if gi >= groups {
					return
				}
				streams := min(per, cmd.N-gi*per)
				cc, err := t.NewClientConn(dialCtx, "https", cmd.Addr)
				mu.Lock()
				if err != nil {
					r.Failed += streams
					if r.FirstErr == "" {
						r.FirstErr = err.Error()
					}
					mu.Unlock()
					continue
				}
				r.Connected += streams
				mu.Unlock()
				shared := &h2Conn{cc: cc}
				shared.refs.Store(int64(streams))
				for range streams {
					g.addClient(newH2Stream(shared, "https://"+cmd.Addr+cmd.Target, cmd.LastEventID), cmd.Seq)
				}
			}
		})
	}
	wg.Wait()
	s := g.status()
	s.Connected, s.Failed, s.FirstErr = r.Connected, r.Failed, r.FirstErr
	return s
}

// h2Conn is one HTTP/2 connection shared by streams; the last stream to
// close closes it.
type h2Conn struct {
	cc   *http.ClientConn
	refs atomic.Int64
}

// h2Stream is one subscription on an HTTP/2 connection, seen as a net.Conn
// so the load generator's HTTP/1.1 reader parses it unchanged: its first
// Read sends the request, and reads return a status line and blank line
// ("HTTP/1.1 200 OK", or another status when the answer is not a 200 over
// HTTP/2) followed by the body, already unframed.
type h2Stream struct {
	conn   *h2Conn
	url    string
	lastID string
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	body   io.Reader
	err    error
	closed sync.Once
}

func newH2Stream(c *h2Conn, url, lastID string) *h2Stream {
	ctx, cancel := context.WithCancel(context.Background())
	return &h2Stream{conn: c, url: url, lastID: lastID, ctx: ctx, cancel: cancel}
}

func (s *h2Stream) start() {
	req, err := http.NewRequestWithContext(s.ctx, http.MethodGet, s.url, nil)
	if err != nil {
		s.err = err
		return
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	if s.lastID != "" {
		req.Header.Set("Last-Event-ID", s.lastID)
	}
	resp, err := s.conn.cc.RoundTrip(req)
	if err != nil {
		s.err = err
		return
	}
	status := resp.Status
	if resp.ProtoMajor != 2 {
		status = "505 not HTTP/2: " + resp.Proto
	}
	s.body = io.MultiReader(strings.NewReader("HTTP/1.1 "+status+"\r\n\r\n"), resp.Body)
}

func (s *h2Stream) Read(p []byte) (int, error) {
	s.once.Do(s.start)
	if s.err != nil {
		return 0, s.err
	}
	return s.body.Read(p)
}

func (s *h2Stream) Close() error {
	s.closed.Do(func() {
		s.cancel()
		if s.conn.refs.Add(-1) == 0 {
			s.conn.cc.Close()
		}
	})
	return nil
}

func (s *h2Stream) Write(p []byte) (int, error) {
	return 0, fmt.Errorf("h2 stream: write not supported")
}
func (s *h2Stream) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *h2Stream) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *h2Stream) SetDeadline(time.Time) error      { return nil }
func (s *h2Stream) SetReadDeadline(time.Time) error  { return nil }
func (s *h2Stream) SetWriteDeadline(time.Time) error { return nil }
