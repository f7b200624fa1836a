package testenv_test

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/heraldsse/herald/internal/testenv"
)

// ping sends PING to addr and returns the reply line, or the error.
func ping(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := conn.Write([]byte("*1\r\n$4\r\nPING\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(conn).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

func TestStartRedisServer(t *testing.T) {
	srv := testenv.StartRedisServer(t)
	addr := srv.Addr()
	if got, err := ping(addr); err != nil || got != "+PONG" {
		t.Fatalf("PING %s after StartRedisServer = %q, %v; want +PONG", addr, got, err)
	}
	srv.Stop()
	if got, err := ping(addr); err == nil {
		t.Fatalf("PING %s after Stop = %q; want an error", addr, got)
	}
	srv.Stop() // stopping a stopped server does nothing
	srv.Start()
	if got, err := ping(addr); err != nil || got != "+PONG" {
		t.Fatalf("PING %s after Start = %q, %v; want +PONG", addr, got, err)
	}
	if srv.Addr() != addr {
		t.Errorf("Addr after a restart = %s, want %s", srv.Addr(), addr)
	}
}

func TestStartRedis(t *testing.T) {
	addr := testenv.StartRedis(t)
	if got, err := ping(addr); err != nil || got != "+PONG" {
		t.Fatalf("PING %s = %q, %v; want +PONG", addr, got, err)
	}
}
