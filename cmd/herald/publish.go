package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"
)

// publishHelp is the paragraph of "herald publish -h".
const publishHelp = `Publish one event to a herald hub (POST /events) and print the ID it was
given. The data is sent as a string and reaches subscribers exactly as given;
--data - reads it from standard input, without its final line end. A URL
without a path (http://localhost:8080) means its /events. When the hub refuses
the event, its reason is printed on stderr and the exit status is 1.`

// publishConfig is what the publish command's flags set.
type publishConfig struct {
	url     string
	topic   string
	typ     string
	data    string
	retry   time.Duration
	header  headerFlag
	timeout time.Duration
}

// publishFlags defines the publish command's flags on a new FlagSet that
// fills cfg.
func publishFlags(cfg *publishConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("publish", flag.ContinueOnError)
	fs.StringVar(&cfg.url, "url", "", "the hub's `URL`, such as http://localhost:8080 (required)")
	fs.StringVar(&cfg.topic, "topic", "", "the `topic` to publish to, such as chat/lobby (required)")
	fs.StringVar(&cfg.typ, "type", "", "the event `type`; empty means \"message\"")
	fs.StringVar(&cfg.data, "data", "", "the event's `data`, or - to read it from standard input (required)")
	fs.DurationVar(&cfg.retry, "retry", 0, "ask subscribers to wait this long before reconnecting; 0 sends no hint")
	fs.Var(&cfg.header, "header", "add a request header, `'Name: value'` (repeatable; the variable holds one)")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "the most time the request may take")
	return fs
}

// runPublish is the publish command, reading --data - from os.Stdin.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return publish(ctx, args, os.Stdin, stdout, stderr)
}

// publish publishes the event args describe and prints its ID on stdout.
func publish(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	var cfg publishConfig
	fs := publishFlags(&cfg)
	if err := parseFlags(fs, publishHelp, nil, args, os.LookupEnv, stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	set := make(map[string]bool) // by the command line or the environment
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"url", "topic", "data"} {
		if !set[name] {
			return usageError(stderr, fs, publishHelp, nil, fmt.Errorf("missing --%s", name))
		}
	}
	endpoint, err := eventsURL(cfg.url)
	if err != nil {
		return usageError(stderr, fs, publishHelp, nil, err)
	}
	if cfg.data == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("publish: read standard input: %w", err)
		}
		cfg.data = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}

	body := struct {
		Topic string `json:"topic"`
		Type  string `json:"type,omitempty"`
		Data  string `json:"data"`
		Retry int64  `json:"retry,omitempty"` // milliseconds
	}{cfg.topic, cfg.typ, cfg.data, cfg.retry.Milliseconds()}
	payload, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(payload))
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	if cfg.header.h != nil {
		req.Header = cfg.header.h.Clone()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{}).Do(req)
	if err != nil {
		return fmt.Errorf("publish to %s: %w", cfg.topic, err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return fmt.Errorf("publish to %s: read the answer: %w", cfg.topic, err)
	}
	var reply struct {
		ID    string `json:"id"`
		Error string `json:"error"`
	}
	jsonErr := json.Unmarshal(answer, &reply)
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		msg := reply.Error
		if jsonErr != nil || msg == "" {
			msg = string(answer)
		}
		if msg = oneLine(msg, 300); msg != "" {
			msg = ": " + msg
		}
		return fmt.Errorf("publish to %s: %s answered %s%s", cfg.topic, endpoint, resp.Status, msg)
	}
	if jsonErr != nil || reply.ID == "" {
		return fmt.Errorf("publish to %s: %s answered %s without an event ID: %s", cfg.topic, endpoint, resp.Status, oneLine(string(answer), 300))
	}
	_, err = fmt.Fprintln(stdout, reply.ID)
	return err
}

// eventsURL returns the publish endpoint for the --url flag: the URL as
// given, or its /events when it has no path.
func eventsURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("--url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("--url %q: want an absolute http or https URL", raw)
	}
	if u.Path == "" || u.Path == "/" {
		u.Path = "/events"
	}
	return u.String(), nil
}

// oneLine turns s into one line of at most n runes, control characters
// replaced by spaces, so a server's text cannot garble a terminal.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)), " ")
	if r := []rune(s); len(r) > n {
		s = string(r[:n]) + "…"
	}
	return s
}
