package main

import (
	"crypto/tls"
	"net"
	"testing"
	"time"
)

// TestTLSScenarios runs h2, h2mux and tls at a tiny scale for every
// implementation: every subscriber connects over its protocol and gets
// every fanout event.
func TestTLSScenarios(t *testing.T) {
	raiseFileLimit()
	names := []string{"h2", "h2mux", "tls"}
	c := config{
		Scenarios:    names,
		Impls:        allImpls,
		H2:           h2Config{Subs: 20, PerConn: 8}, // h2mux: three connections, one not full
		Settle:       50 * time.Millisecond,
		IdleWindow:   100 * time.Millisecond,
		FanoutBursts: 2,
		FanoutEvents: 5,
		Size:         64,
		ConnsPerLoad: 15, // two load processes, as at full scale
		WaitTimeout:  10 * time.Second,
		Stall:        3 * time.Second,
		Deadline:     time.Minute,
	}
	res, err := runAll(t.Context(), c, testWriter{t})
	if err != nil {
		t.Fatalf("runAll: %v", err)
	}
	for _, s := range res.Scenarios {
		for _, impl := range allImpls {
			t.Run(s.Name+"/"+impl, func(t *testing.T) {
				ir := s.Results[impl]
				if ir == nil || ir.Error != "" {
					t.Fatalf("result %+v", ir)
				}
				m := ir.Metrics
				if m["subscribers_after_window"] != 20 {
					t.Errorf("subscribers after idle window = %v, want 20", m["subscribers_after_window"])
				}
				if want := float64(20 * 2 * 5); m["delivered"] != want || m["missing"] != 0 {
					t.Errorf("delivered %v, missing %v: want %v and 0 (notes %q)", m["delivered"], m["missing"], want, ir.Notes)
				}
			})
		}
	}
}

// TestTLSHandshakeWrongProtocol: a client asking for HTTP/2 from a TLS
// server that offers only HTTP/1.1 gets an error, not a stream it would
// misparse.
func TestTLSHandshakeWrongProtocol(t *testing.T) {
	cert, err := selfSigned()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			_ = c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	if tc, err := tlsHandshake(t.Context(), conn, "h2"); err == nil {
		tc.Close()
		t.Fatal("handshake asking for h2 from an HTTP/1.1-only server succeeded")
	}
}
