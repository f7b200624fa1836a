package server_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldsse/herald/hub"
	"github.com/heraldsse/herald/server"
	"github.com/heraldsse/herald/store/memory"
)

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRequestIDPublishLog checks that a failed publish through
// [server.RequestID] logs exactly one line, at debug level too, carrying
// the ID the response names: a bad body, and with auth on a publish with
// no token (which auth would otherwise log too).
func TestRequestIDPublishLog(t *testing.T) {
	tests := []struct {
		name   string
		auth   *server.AuthOptions
		body   string
		status int
	}{
		{"bad body", nil, `{"topic":"","data":"x"}`, http.StatusBadRequest},
		{"not json", nil, `{`, http.StatusBadRequest},
		{"no token", &server.AuthOptions{Secret: testSecret}, `{"topic":"a","data":"x"}`, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := hub.New(hub.Options{Log: memory.New(memory.Options{})})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = h.Close(ctx)
			})
			logs := new(lockedBuffer)
			logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			srv, err := server.New(server.Options{Hub: h, Logger: logger, Auth: tt.auth})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(server.RequestID(srv, logger))
			t.Cleanup(ts.Close)

			resp, err := http.Post(ts.URL+"/events", "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("POST /events %s: status %d, want %d", tt.body, resp.StatusCode, tt.status)
			}
			id := resp.Header.Get(server.RequestIDHeader)
			if id == "" {
				t.Fatal("response has no X-Request-ID")
			}
			var n int
			sc := bufio.NewScanner(strings.NewReader(logs.String()))
			for sc.Scan() {
				var line map[string]any
				if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
					t.Fatalf("log line %q: %v", sc.Text(), err)
				}
				n++
				if line["request_id"] != id || line["msg"] != "publish failed" {
					t.Errorf("log line %v, want publish failed with request_id %q", line, id)
				}
			}
			if n != 1 {
				t.Errorf("%d log lines, want 1:\n%s", n, logs)
			}
		})
	}
}

// TestRequestIDHeader checks which incoming X-Request-ID values are kept.
func TestRequestIDHeader(t *testing.T) {
	tests := []struct {
		in   string
		keep bool
	}{
		{"", false},
		{"abc", true},
		{"A-z_0.9", true},
		{strings.Repeat("x", 64), true},
		{strings.Repeat("x", 65), false},
		{"has space", false},
		{"semi;colon", false},
		{"ünïcode", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			h := server.RequestID(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}), nil)
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			if tt.in != "" {
				r.Header.Set(server.RequestIDHeader, tt.in)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get(server.RequestIDHeader)
			if got == "" {
				t.Fatal("no X-Request-ID on the response")
			}
			if tt.keep != (got == tt.in) {
				t.Errorf("RequestID(%q) answered %q; keep = %v", tt.in, got, tt.keep)
			}
		})
	}
}
