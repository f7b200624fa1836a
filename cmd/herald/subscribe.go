package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/heraldsse/herald/client"
	"github.com/heraldsse/herald/sse"
)

// subscribeHelp is what "herald subscribe -h" says besides the flags.
var subscribeHelp = help{args: "[URL]", text: `Read the Server-Sent Events stream at URL and print each event as it
arrives. With --topic, URL is a herald hub's address, such as
http://localhost:8080, which means its /events, and each topic is added as a
topic parameter; without URL, ` + urlEnv + ` gives it, else ` + defaultHub + `.
Without --topic, URL is any stream's full URL (` + urlEnv + ` if not given).
Like a browser's EventSource, it reconnects when the stream ends or the network
fails, after the server's retry time (3s until the server sends one; longer
after failures in a row), resuming with Last-Event-ID. It exits with status 0
when the server answers 204 No Content, after --count events, when a --once
stream ends, or on SIGINT; with status 1 and a message when the server
answers another status than 200 or a response that is not text/event-stream.
Reconnections are reported on stderr. Flags may also follow URL.

Each event is printed as an event stream a browser would read the same:
    id: <the last event ID, when not empty>
    event: <the type, "message" when the stream named none>
    data: <one line per line of data>
and a blank line; with --json, as one line
    {"id": "...", "type": "...", "data": "..."}`}

// subscribeConfig is what the subscribe command's flags set.
type subscribeConfig struct {
	json        bool
	count       int
	once        bool
	lastEventID string
	topics      topicsFlag
	header      headerFlag
}

// subscribeFlags defines the subscribe command's flags on a new FlagSet
// that fills cfg.
func subscribeFlags(cfg *subscribeConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("subscribe", flag.ContinueOnError)
	fs.Var(&cfg.topics, "topic", "subscribe to the hub's `pattern`, such as chat/* (repeatable; the variable holds one)")
	fs.BoolVar(&cfg.json, "json", false, `print each event as one line of JSON, {"id": ..., "type": ..., "data": ...}`)
	fs.IntVar(&cfg.count, "count", 0, "exit after `n` events; 0 means no limit")
	fs.BoolVar(&cfg.once, "once", false, "do not reconnect: exit when the stream ends, with an error if it broke")
	fs.StringVar(&cfg.lastEventID, "last-event-id", "", "resume after event `id`: sent as Last-Event-ID on the first request")
	fs.Var(&cfg.header, "header", "add a request header, `'Name: value'` (repeatable; the variable holds one)")
	return fs
}

// runSubscribe is the subscribe command: it prints the events of the
// stream at its URL argument until the source ends, fails, or ctx ends.
func runSubscribe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg subscribeConfig
	fs := subscribeFlags(&cfg)
	url, err := parseWithURL(fs, func() *flag.FlagSet { return subscribeFlags(new(subscribeConfig)) }, subscribeHelp, args, os.LookupEnv, stdout, stderr)
	if err != nil {
		return helpShown(err)
	}
	switch {
	case len(cfg.topics) > 0:
		if url == "" {
			url = defaultHub
		}
		if url, err = client.EventsURL(url, cfg.topics...); err != nil {
			return usageError(stderr, fs, subscribeHelp, err)
		}
	case url == "":
		return usageError(stderr, fs, subscribeHelp, errors.New("missing URL (or --topic, to read the hub at "+defaultHub+")"))
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	conn, err := client.New(url, client.Options{
		Header:      cfg.header.h,
		LastEventID: cfg.lastEventID,
		NoReconnect: cfg.once,
		Logger:      logger,
	})
	if err != nil {
		return usageError(stderr, fs, subscribeHelp, err)
	}

	format := appendEvent
	if cfg.json {
		format = appendEventJSON
	}
	var buf []byte
	n := 0
	for ev, err := range conn.Events(ctx) {
		if err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil // interrupted: a clean end
			}
			return fmt.Errorf("subscribe: %w", refused(err))
		}
		if buf, err = format(buf[:0], ev); err != nil {
			return fmt.Errorf("subscribe: %w", err)
		}
		if _, err := stdout.Write(buf); err != nil {
			return fmt.Errorf("subscribe: write: %w", err)
		}
		if n++; cfg.count > 0 && n >= cfg.count {
			break
		}
	}
	return nil
}

// appendEvent appends ev in the readable format of herald subscribe: as
// an event, its type always named. A decoded event is always valid.
func appendEvent(dst []byte, ev sse.Event) ([]byte, error) {
	return sse.AppendEvent(dst, sse.Event{ID: ev.ID, Type: eventType(ev), Data: ev.Data})
}

// appendEventJSON appends ev as one line of JSON, exactly
// {"id": ..., "type": ..., "data": ...}.
func appendEventJSON(dst []byte, ev sse.Event) ([]byte, error) {
	dst = append(dst, `{"id": `...)
	dst = appendJSONString(dst, ev.ID)
	dst = append(dst, `, "type": `...)
	dst = appendJSONString(dst, eventType(ev))
	dst = append(dst, `, "data": `...)
	dst = appendJSONString(dst, ev.Data)
	return append(dst, "}\n"...), nil
}

// eventType is ev's type as a browser names it.
func eventType(ev sse.Event) string {
	if ev.Type == "" {
		return "message"
	}
	return ev.Type
}

// appendJSONString appends s as a JSON string, leaving <, > and & as they
// are.
func appendJSONString(dst []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return append(dst, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// topicsFlag is a repeatable flag of topic patterns.
type topicsFlag []string

func (f *topicsFlag) String() string {
	if f == nil {
		return ""
	}
	return strings.Join(*f, ", ")
}

func (f *topicsFlag) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// headerFlag is a repeatable flag of request headers, each "Name: value".
type headerFlag struct {
	h http.Header
}

func (f *headerFlag) String() string {
	if f == nil {
		return ""
	}
	var all []string
	for name, values := range f.h {
		for _, v := range values {
			all = append(all, name+": "+v)
		}
	}
	slices.Sort(all)
	return strings.Join(all, ", ")
}

func (f *headerFlag) Set(v string) error {
	name, value, ok := strings.Cut(v, ":")
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	if !ok || name == "" || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
		return fmt.Errorf("want 'Name: value', got %q", v)
	}
	if strings.ContainsAny(value, "\r\n\x00") {
		return fmt.Errorf("header %s: value contains CR, LF or NUL", name)
	}
	if f.h == nil {
		f.h = make(http.Header)
	}
	f.h.Add(name, value)
	return nil
}

// splitArgs separates a command's flags from its other arguments, so
// flags may follow them ("herald subscribe URL --json"). newFlags returns
// a FlagSet with the command's flags, whose values are thrown away; it
// tells which flags take a value. After a "--" that ends the flags, every
// argument is kept as one. When args cannot be parsed, the rest of them
// are returned as flags, for parseFlags to report the mistake (or to
// answer -h).
func splitArgs(newFlags func() *flag.FlagSet, args []string) (flags, rest []string) {
	parse := func(args []string) (*flag.FlagSet, error) {
		fs := newFlags()
		fs.SetOutput(io.Discard)
		return fs, fs.Parse(args)
	}
	for len(args) > 0 {
		fs, err := parse(args)
		if err != nil {
			return append(flags, args...), rest
		}
		n := len(args) - fs.NArg() // arguments consumed as flags
		if n > 0 && args[n-1] == "--" {
			// A "--" where a flag could start ends the flags; one that is
			// a flag's value does not.
			if before, err := parse(args[:n-1]); err == nil && before.NArg() == 0 {
				return append(flags, args[:n-1]...), append(rest, args[n:]...)
			}
		}
		flags = append(flags, args[:n]...)
		args = args[n:]
		if len(args) > 0 {
			rest = append(rest, args[0])
			args = args[1:]
		}
	}
	return flags, rest
}
