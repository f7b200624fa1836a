package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/sse"
)

// syncBuffer is a bytes.Buffer safe for concurrent use, for a server's log.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// servedNode is a node that serve serves on loopback, as herald serve would.
type servedNode struct {
	*node
	url  string
	addr string
	log  *syncBuffer
}

// startServe parses args as herald serve's flags, builds the node and
// serves it with serve on 127.0.0.1:0; the test's end shuts it down and
// checks that serve returned nil.
func startServe(t *testing.T, args ...string) *servedNode {
	t.Helper()
	return startServeOn(t, nil, args...)
}

// startServeOn is startServe with the node's history h instead of the one
// --store names, when h is not nil.
func startServeOn(t *testing.T, h history, args ...string) *servedNode {
	t.Helper()
	var cfg serveConfig
	fs := serveFlags(&cfg)
	if err := fs.Parse(args); err != nil {
		t.Fatal(err)
	}
	logs := new(syncBuffer)
	logger, err := newLogger(logs, cfg.logFormat, cfg.logLevel)
	if err != nil {
		t.Fatal(err)
	}
	if err = cfg.resolveAuth(); err != nil {
		t.Fatal(err)
	}
	if cfg.tls, err = loadTLS(cfg.tlsCert, cfg.tlsKey); err != nil {
		t.Fatal(err)
	}
	var n *node
	if h != nil {
		n, err = newNodeOn(h, nil, cfg, logger)
	} else {
		n, err = newNode(t.Context(), cfg, logger)
	}
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- serve(ctx, ln, n, cfg, logger) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve = %v, want nil after shutdown\nlog:\n%s", err, logs)
		}
	})
	return &servedNode{node: n, url: browseURL(ln.Addr(), cfg.tls != nil), addr: ln.Addr().String(), log: logs}
}

// writeCert writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key to PEM files in dir, and returns their paths and a pool trusting it.
func writeCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "herald test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestServeTLSHTTP2 serves over TLS and opens ten streams, more than the
// six a browser allows per origin over HTTP/1.1, on one HTTP/2 connection:
// each is HTTP/2, and one published event reaches all ten.
func TestServeTLSHTTP2(t *testing.T) {
	certFile, keyFile, pool := writeCert(t, t.TempDir())
	n := startServe(t, "--tls-cert", certFile, "--tls-key", keyFile, "--heartbeat", "1h", "--stream-interval", "10ms")
	if !strings.HasPrefix(n.url, "https://") {
		t.Fatalf("serving on %s, want https", n.url)
	}
	var mu sync.Mutex // guards dialed, the connections the client opens
	dialed := 0
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			mu.Lock()
			dialed++
			mu.Unlock()
			return new(net.Dialer).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	client := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()

	const streams = 10
	decs := make([]*sse.Decoder, streams)
	for i := range decs {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/events?topic=news", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("stream %d: GET /events: %v", i, err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		if resp.ProtoMajor != 2 {
			t.Errorf("stream %d: protocol %s, want HTTP/2", i, resp.Proto)
		}
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("stream %d: status %d, want 200", i, resp.StatusCode)
		}
		decs[i] = sse.NewDecoder(resp.Body)
	}
	// An app's stream, written through sse.Stream, flushes over HTTP/2 too.
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n.url+"/stream", nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET /stream: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.ProtoMajor != 2 {
		t.Errorf("GET /stream: protocol %s, want HTTP/2", resp.Proto)
	}
	if _, err := nextEvent(sse.NewDecoder(resp.Body)); err != nil {
		t.Fatalf("GET /stream over HTTP/2: %v", err)
	}
	if got := n.api.Streams(); got != streams {
		t.Fatalf("server has %d streams open, want %d", got, streams)
	}
	mu.Lock()
	if dialed != 1 {
		t.Errorf("client opened %d connections, want all streams on 1", dialed)
	}
	mu.Unlock()

	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, n.url+"/events", strings.NewReader(`{"topic":"news","data":"hello"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatalf("POST /events: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST /events: status %d, want 201", resp.StatusCode)
	}
	for i, dec := range decs {
		ev, err := nextEvent(dec)
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		if ev.Data != "hello" {
			t.Errorf("stream %d: event %+v, want data hello", i, ev)
		}
	}
}

// nextEvent returns dec's next event with data, skipping the retry-only
// preamble if any.
func nextEvent(dec *sse.Decoder) (sse.Event, error) {
	for {
		ev, err := dec.Next()
		if err != nil {
			return ev, err
		}
		if ev.Data != "" {
			return ev, nil
		}
	}
}

// TestServeTLSFlagsGoTogether checks that --tls-cert without --tls-key,
// and the reverse, is a usage error.
func TestServeTLSFlagsGoTogether(t *testing.T) {
	for _, args := range [][]string{{"--tls-cert", "c.pem"}, {"--tls-key", "k.pem"}} {
		t.Run(args[0], func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(t.Context(), append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), io.Discard, &stderr)
			if !errors.Is(err, errUsage) {
				t.Fatalf("run(serve %v) = %v, want a usage error", args, err)
			}
			if !strings.Contains(stderr.String(), "--tls-cert and --tls-key") {
				t.Errorf("stderr lacks the reason:\n%s", &stderr)
			}
		})
	}
}

// TestServeLogFormat checks that --log-format accepts text and json only.
func TestServeLogFormat(t *testing.T) {
	var stderr bytes.Buffer
	err := run(t.Context(), []string{"serve", "--addr", "127.0.0.1:0", "--log-format", "xml"}, io.Discard, &stderr)
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "--log-format") {
		t.Fatalf("run(serve --log-format xml) = %v, want a usage error naming --log-format\n%s", err, &stderr)
	}
}

// TestServeLogsRequestID publishes a bad event to a node logging JSON: the
// response carries an X-Request-ID, and the log has exactly one line for
// the request, carrying that ID. A sane incoming ID is kept, an unsafe one
// replaced.
func TestServeLogsRequestID(t *testing.T) {
	tests := []struct {
		name     string
		incoming string
		keep     bool
	}{
		{"generated", "", false},
		{"kept", "abc-123_x.y", true},
		{"unsafe replaced", "bad id\twith spaces", false},
		{"too long replaced", strings.Repeat("a", 65), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := startServe(t, "--log-format", "json")
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, n.url+"/events", strings.NewReader(`{"topic":"","data":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			if tt.incoming != "" {
				req.Header.Set("X-Request-ID", tt.incoming)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("POST /events: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("POST /events with no topic: status %d, want 400", resp.StatusCode)
			}
			id := resp.Header.Get("X-Request-ID")
			switch {
			case id == "":
				t.Fatal("response has no X-Request-ID")
			case tt.keep && id != tt.incoming:
				t.Errorf("X-Request-ID = %q, want the incoming %q", id, tt.incoming)
			case !tt.keep && id == tt.incoming:
				t.Errorf("X-Request-ID = %q, want a new one", id)
			}
			var lines []map[string]any
			sc := bufio.NewScanner(strings.NewReader(n.log.String()))
			for sc.Scan() {
				var line map[string]any
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
				}
				if _, ok := line["request_id"]; ok {
					lines = append(lines, line)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("%d log lines carry a request_id, want 1:\n%s", len(lines), n.log)
			}
			if got := lines[0]["request_id"]; got != id {
				t.Errorf("log line request_id = %v, want the response's %q", got, id)
			}
			if lines[0]["msg"] != "publish failed" || lines[0]["status"] != float64(http.StatusBadRequest) {
				t.Errorf("log line %v, want publish failed with status 400", lines[0])
			}
		})
	}
}

// TestServeHeaderBlockNeverFinishes is a security test: a client sends a
// request line and a header but never the blank line ending the headers.
// The server closes the connection after --read-header-timeout, keeps
// serving others, and opens no subscription for it.
func TestServeHeaderBlockNeverFinishes(t *testing.T) {
	n := startServe(t, "--read-header-timeout", "200ms")
	conn, err := net.Dial("tcp", n.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, "GET /events?topic=a HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	// The deadline only bounds a failing test; the server should close the
	// connection after about 200ms.
	start := time.Now()
	if err := conn.SetReadDeadline(start.Add(5 * time.Second)); err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(io.Discard, conn) // returns at EOF or on a reset
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %v; want it closed after the 200ms read-header timeout", time.Since(start))
	}
	if got := n.hub.Stats().Subscribers; got != 0 {
		t.Errorf("hub has %d subscribers, want 0", got)
	}
	if got := n.api.Streams(); got != 0 {
		t.Errorf("server has %d streams open, want 0", got)
	}

	resp, err := http.Get(n.url + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz after the slow client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz after the slow client: status %d, want 200", resp.StatusCode)
	}
}
