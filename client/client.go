package client

import (
	"context"
	"errors"
	"fmt"
	"io"
	"iter"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/sse"
)

// DefaultRetry is the reconnection time a [Conn] uses until the server
// sends a "retry" field: 3 s, as browsers do.
const DefaultRetry = 3 * time.Second

// Options configures a [Conn]. The zero value is ready to use.
type Options struct {
	// HTTPClient sends the requests; give one for a custom transport, TLS
	// settings, a cookie jar or a proxy. Nil means a client of the Conn's
	// own with no overall timeout, since a stream is meant to stay open
	// (a Timeout set here ends every stream after that long).
	HTTPClient *http.Client
	// Header is added to every request, for example Authorization. The
	// Conn sets Accept, Cache-Control and Last-Event-ID itself, replacing
	// any value given here.
	Header http.Header
	// LastEventID is the event ID to resume after: it is sent as
	// Last-Event-ID on the first request and is the last event ID until
	// the stream sets another. It must not contain CR, LF or NUL. Empty
	// means start afresh.
	LastEventID string
	// MaxEventSize is the longest line, and the most data one event may
	// hold, in bytes; past it the source fails with an error wrapping
	// [sse.ErrTooLarge]. Zero means [sse.DefaultMaxSize] (1 MiB).
	MaxEventSize int
	// Retry is the reconnection time until the server sends a "retry"
	// field. Zero means [DefaultRetry].
	Retry time.Duration
	// Backoff is the extra wait after connection attempts that fail in a
	// row. Its zero value means the defaults listed on [Backoff].
	Backoff Backoff
	// NoReconnect makes [Conn.Events] connect once: the iteration ends
	// when that stream ends, and a failure to connect, or a connection
	// that breaks, is yielded as an error instead of being retried.
	NoReconnect bool
	// Logger receives one line per reconnection, with its cause and the
	// wait before it. Nil discards them.
	Logger *slog.Logger
}

// Backoff is the extra wait a [Conn] adds to the reconnection time after
// connection attempts that failed in a row (no response, or a network
// error before the status line): [Backoff.Delay] of the number of
// failures, of which a random amount between half and all is waited
// (jitter), so clients that lost the same server do not return in step.
// A response that opens a stream resets the count; reconnecting after a
// stream that was open ends waits the reconnection time alone.
//
// The zero value means the defaults. Backoff is a plain value.
type Backoff struct {
	// Initial is the delay after the first failure. Zero means 1 s.
	Initial time.Duration
	// Max caps the delay. Zero means 30 s; a Max below Initial means
	// Initial.
	Max time.Duration
	// Multiplier scales the delay after each further failure. Zero means
	// 2; values below 1 mean 1 (a constant delay).
	Multiplier float64
}

// Delay returns the delay, before jitter, after n connection attempts in
// a row have failed: zero for n <= 0, Initial for 1, then multiplied by
// Multiplier for each further failure, never more than Max.
func (b Backoff) Delay(n int) time.Duration {
	if n <= 0 {
		return 0
	}
	initial, maxDelay, mult := b.Initial, b.Max, b.Multiplier
	if initial <= 0 {
		initial = time.Second
	}
	if maxDelay == 0 {
		maxDelay = 30 * time.Second
	}
	maxDelay = max(maxDelay, initial)
	switch {
	case mult == 0:
		mult = 2
	case mult < 1:
		mult = 1
	}
	d := float64(initial) * math.Pow(mult, float64(n-1))
	if d >= float64(maxDelay) || math.IsNaN(d) {
		return maxDelay
	}
	return time.Duration(d)
}

// jitter returns a random duration between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d-d/2+1)
}

// Conn reads one event source, reconnecting as a browser's EventSource
// does. Create it with [New] and read it with [Conn.Events]. A Conn holds
// no connection between iterations, so there is nothing to close.
//
// Its methods are safe for concurrent use, but only one iteration of
// [Conn.Events] should run at a time: iterations share the last event ID
// and the reconnection time.
type Conn struct {
	url    string // as given, for requests
	shown  string // for errors and logs: no password, no access_token
	opts   Options
	client *http.Client
	logger *slog.Logger
	sleep  func(ctx context.Context, d time.Duration) error // replaced by tests

	mu     sync.Mutex
	lastID string
	retry  time.Duration
}

// New returns a Conn for the stream at rawURL, an absolute http or https
// URL. It does not connect: [Conn.Events] does. It returns an error
// wrapping [ErrInvalidURL] for a bad URL, or [sse.ErrInvalidID] for an
// opts.LastEventID that holds CR, LF or NUL.
func New(rawURL string, opts Options) (*Conn, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	if err := (sse.Event{ID: opts.LastEventID}).Validate(); err != nil {
		return nil, fmt.Errorf("client: Options.LastEventID: %w", err)
	}
	c := &Conn{
		url:    rawURL,
		shown:  api.RedactURL(u),
		opts:   opts,
		client: opts.HTTPClient,
		logger: opts.Logger,
		sleep:  sleep,
		lastID: opts.LastEventID,
		retry:  opts.Retry,
	}
	if c.client == nil {
		c.client = &http.Client{}
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.retry <= 0 {
		c.retry = DefaultRetry
	}
	return c, nil
}

// LastEventID returns the last event ID: the ID of the latest event block
// the server closed with a blank line, across every connection so far, or
// Options.LastEventID before the stream sets one. It is what the Conn
// sends as Last-Event-ID when it reconnects (nothing when it is empty: an
// empty "id" field resets it).
func (c *Conn) LastEventID() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lastID
}

// Retry returns the reconnection time: the latest "retry" the server sent,
// on this connection or an earlier one, or else Options.Retry or
// [DefaultRetry].
func (c *Conn) Retry() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.retry
}

// Events returns an iterator over the source's events. Each iteration
// connects (GET, with Accept: text/event-stream, Cache-Control: no-cache
// and, when the last event ID is not empty, Last-Event-ID), yields every
// event the stream dispatches with a nil error, and reconnects when the
// stream ends or the connection fails, until ctx ends or the loop stops.
// Each event's ID is the last event ID when it was dispatched, which may
// come from an earlier event or connection; its Type is empty when the
// stream named none ("message" in a browser).
//
// Before reconnecting it waits [Conn.Retry]; after attempts that failed
// to get a response it waits longer (see [Backoff]). Reconnections are not
// yielded; Options.Logger hears of them.
//
// The iteration ends, and every error it yields is the last value it
// yields:
//   - without an error when the server answers 204 No Content (the
//     server's way to say "stop"), or, with Options.NoReconnect, when the
//     stream ends cleanly;
//   - with a [*StatusError] (wrapping [ErrBadStatus]) for any other status
//     than 200, or an error wrapping [ErrContentType] when the response is
//     not text/event-stream: as in a browser, the source fails for good;
//   - with an error wrapping [sse.ErrTooLarge] when a line or an event
//     exceeds Options.MaxEventSize, since reconnecting would read it again;
//   - with ctx.Err() when ctx ends, while connected or while waiting;
//   - with Options.NoReconnect, with the error that broke the connection
//     or prevented it, instead of reconnecting.
//
// An event still open when a connection ends is discarded, and its ID is
// not committed. Breaking out of the loop closes the connection. Calling
// Events again starts a new iteration that resumes from the current last
// event ID.
func (c *Conn) Events(ctx context.Context) iter.Seq2[sse.Event, error] {
	return func(yield func(sse.Event, error) bool) {
		failures := 0
		for {
			res, err := c.connect(ctx, yield)
			if res == done {
				return
			}
			if ctx.Err() != nil {
				yield(sse.Event{}, ctx.Err())
				return
			}
			switch res {
			case fatal:
				yield(sse.Event{}, err)
				return
			case ended:
				failures = 0
			case failed:
				failures++
			}
			if c.opts.NoReconnect {
				if err != nil {
					yield(sse.Event{}, err)
				}
				return
			}
			wait := c.Retry() + jitter(c.opts.Backoff.Delay(failures))
			if err != nil {
				c.logger.Warn("event source failed; reconnecting", "url", c.shown, "after", wait, "failures", failures, "err", err)
			} else {
				c.logger.Info("event stream ended; reconnecting", "url", c.shown, "after", wait)
			}
			if err := c.sleep(ctx, wait); err != nil {
				yield(sse.Event{}, err)
				return
			}
		}
	}
}

// result is how one connection ended.
type result int

const (
	done   result = iota // the loop stopped, or the server said stop (204): end quietly
	ended                // a stream was open and ended; the error says why, nil at EOF
	failed               // no stream opened: the error says why
	fatal                // the error fails the source for good
)

// connect makes one connection and yields its events.
func (c *Conn) connect(ctx context.Context, yield func(sse.Event, error) bool) (result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return fatal, fmt.Errorf("client: GET %s: %w", c.shown, err)
	}
	if c.opts.Header != nil {
		req.Header = c.opts.Header.Clone()
	}
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Cache-Control", "no-cache")
	req.Header.Del(sse.LastEventIDHeader)
	lastID := c.LastEventID()
	if lastID != "" {
		req.Header.Set(sse.LastEventIDHeader, lastID)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = c.shown
		}
		return failed, err // a *url.Error: it names the method and URL
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNoContent:
		return done, nil
	case resp.StatusCode != http.StatusOK:
		return fatal, statusError(http.MethodGet, c.shown, resp)
	}
	if mediaType(resp) != "text/event-stream" {
		return fatal, fmt.Errorf("%w: GET %s: Content-Type %q", ErrContentType, c.shown, resp.Header.Get("Content-Type"))
	}

	// A decoder's last event ID starts empty, but a browser's carries over
	// from the previous connection: an event without an "id" field still
	// reports it.
	dec := sse.NewDecoder(resp.Body)
	dec.SetMaxSize(c.opts.MaxEventSize)
	if err := dec.SetLastEventID(lastID); err != nil {
		return fatal, fmt.Errorf("client: GET %s: %w", c.shown, err) // New and the decoder only let valid IDs in
	}
	for {
		ev, err := dec.Next()
		c.commit(dec)
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return ended, nil
		case errors.Is(err, sse.ErrTooLarge):
			return fatal, fmt.Errorf("client: GET %s: %w", c.shown, err)
		default:
			return ended, fmt.Errorf("client: GET %s: reading the stream: %w", c.shown, err)
		}
		if !yield(ev, nil) {
			return done, nil
		}
	}
}

// commit records the decoder's last event ID and reconnection time.
func (c *Conn) commit(dec *sse.Decoder) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastID = dec.LastEventID()
	if r, ok := dec.Retry(); ok {
		c.retry = r
	}
}

// sleep waits d, or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
