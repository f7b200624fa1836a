// Command herald serves real-time events over Server-Sent Events.
//
// Usage:
//
//	herald <command> [flags]
//
// The commands are:
//
//	serve      serve the hub's HTTP API and the tutorial's apps
//	subscribe  print the events of a Server-Sent Events stream
//	publish    publish an event to a herald hub
//	token      mint a token for a hub with auth on
//	version    print herald's version and the Go version it was built with
//
// Run "herald <command> -h" for a command's flags, and "herald --version"
// (or "herald version") for the version. Every flag has an
// environment variable twin, HERALD_ and the flag's name in upper case with
// "-" as "_" (--addr is HERALD_ADDR); a flag given on the command line wins
// over its variable.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// errUsage marks an error in the command line, as opposed to a failure while
// running; main exits with status 2 for it.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	switch {
	case err == nil:
	case errors.Is(err, errUsage):
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "herald:", err)
		os.Exit(1)
	}
}

// command is one subcommand of herald.
type command struct {
	name    string
	summary string // one line for herald's usage
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

// commands lists the subcommands, in the order of the usage text.
var commands = []command{
	{"serve", "serve the hub's HTTP API and the tutorial's apps", runServe},
	{"subscribe", "print the events of a Server-Sent Events stream", runSubscribe},
	{"publish", "publish an event to a herald hub", runPublish},
	{"token", "mint a token for a hub with auth on", runToken},
	{"version", "print herald's version and the Go version it was built with", runVersion},
}

// run runs herald with args, the command line without the program name,
// until the command ends or ctx ends. Help goes to stdout; logs and errors
// go to stderr. A command-line mistake gives an error wrapping errUsage,
// already explained on stderr.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		usage(stderr)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		usage(stdout)
		return nil
	case "-version", "--version":
		return runVersion(ctx, args[1:], stdout, stderr)
	}
	for _, c := range commands {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "herald: unknown command %q\n\n", args[0])
	usage(stderr)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}

func usage(w io.Writer) {
	fmt.Fprint(w, "herald serves real-time events over Server-Sent Events.\n\n")
	fmt.Fprint(w, "Usage:\n\n\therald <command> [flags]\n\nCommands:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "\t%-10s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, "\nRun 'herald <command> -h' for a command's flags, 'herald --version' for the version.\n")
}
