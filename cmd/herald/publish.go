package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/heraldsse/herald/api"
	"github.com/heraldsse/herald/client"
)

// publishHelp is what "herald publish -h" says besides the flags.
var publishHelp = help{args: "[URL]", text: `Publish one event to the herald hub at URL (POST /events) and print the ID
it was given. URL is the hub's address, such as http://localhost:8080, which
means its /events, or the endpoint's full URL; without it, ` + urlEnv + `, else
` + defaultHub + `. --data is text, JSON or not, and reaches subscribers
exactly as given; --data - reads it from standard input, without its final
line end. When the hub refuses the event, its reason is printed on stderr and
the exit status is 1. Flags may also follow URL.`}

// publishConfig is what the publish command's flags set.
type publishConfig struct {
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
	hubURL, err := parseWithURL(fs, func() *flag.FlagSet { return publishFlags(new(publishConfig)) }, publishHelp, args, os.LookupEnv, stdout, stderr)
	if err != nil {
		return helpShown(err)
	}
	if hubURL == "" {
		hubURL = defaultHub
	}
	set := make(map[string]bool) // by the command line or the environment
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range []string{"topic", "data"} {
		if !set[name] {
			return usageError(stderr, fs, publishHelp, fmt.Errorf("missing --%s", name))
		}
	}
	if _, err := client.EventsURL(hubURL); err != nil {
		return usageError(stderr, fs, publishHelp, err)
	}
	if cfg.data == "-" {
		b, err := io.ReadAll(stdin)
		if err != nil {
			return fmt.Errorf("publish: read standard input: %w", err)
		}
		cfg.data = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}

	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	req := api.PublishRequest{Topic: cfg.topic, Type: cfg.typ, Data: api.Text(cfg.data), Retry: cfg.retry.Milliseconds()}
	id, err := client.Publish(ctx, hubURL, req, client.PublishOptions{Header: cfg.header.h})
	if err != nil {
		return fmt.Errorf("publish: %w", refused(err))
	}
	_, err = fmt.Fprintln(stdout, id)
	return err
}
