package sse

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"time"
)

// Detach takes an HTTP/1.x connection over from net/http for an event
// stream, so that the handler can return and the connection be served
// without a goroutine of its own: it sets the same headers as [Open] (on
// top of any the handler set on w), hijacks the connection, and returns it
// with the response head, which the caller writes before the first event.
//
// The response has no Content-Length and no chunked encoding: its body
// ends when the connection closes (RFC 9112, section 6.3), which is how an
// event stream ends. The connection is not reused for another request.
//
// Detach fails, with nothing written, when the request's context has
// already ended ([ErrClosed]), for HTTP/2 and later (whose streams share a
// connection), and when w cannot be hijacked; the error then matches
// [net/http.ErrNotSupported] and the caller falls back to [Open]. Bytes a
// client sent after its request are discarded: an event stream's client
// has nothing more to say.
func Detach(w http.ResponseWriter, r *http.Request) (net.Conn, []byte, error) {
	if err := r.Context().Err(); err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrClosed, err)
	}
	if r.ProtoMajor != 1 {
		return nil, nil, fmt.Errorf("sse: detach %s: %w", r.Proto, http.ErrNotSupported)
	}
	h := w.Header()
	setHeaders(h)
	h.Set("Connection", "close")
	h.Set("Date", httpDate(time.Now()))
	h.Del("Transfer-Encoding")

	var head bytes.Buffer
	head.WriteString("HTTP/1.1 200 OK\r\n")
	if err := h.Write(&head); err != nil {
		return nil, nil, fmt.Errorf("sse: detach: %w", err)
	}
	head.WriteString("\r\n")

	c, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// Nothing was written: the caller can still answer through w.
		h.Del("Connection")
		h.Del("Date")
		return nil, nil, fmt.Errorf("sse: detach: %w", err)
	}
	return c, head.Bytes(), nil
}

// httpDate formats t for a Date header, once per second at most: a burst
// of reconnecting clients should not each pay for formatting the same time.
func httpDate(t time.Time) string {
	sec := t.Unix()
	if d := lastDate.Load(); d != nil && d.sec == sec {
		return d.text
	}
	d := &date{sec: sec, text: t.UTC().Format(http.TimeFormat)}
	lastDate.Store(d)
	return d.text
}

type date struct {
	sec  int64
	text string
}

var lastDate atomic.Pointer[date]
