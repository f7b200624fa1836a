package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/heraldsse/herald/client"
)

// defaultHub is the hub herald publish and herald subscribe --topic talk
// to when neither a URL argument nor HERALD_URL names one.
const defaultHub = "http://localhost:8080"

// urlEnv is the variable that gives the URL argument of herald publish
// and herald subscribe when the command line does not.
const urlEnv = envPrefix + "URL"

// parseWithURL parses the command line of a command whose one optional
// argument is a URL, given before or after its flags (newFlags returns a
// FlagSet like fs; see splitArgs). It returns the argument, or without
// one the value of HERALD_URL, or "" when that is unset too; errors are
// parseFlags's.
func parseWithURL(fs *flag.FlagSet, newFlags func() *flag.FlagSet, h help, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) (string, error) {
	flagArgs, rest := splitArgs(newFlags, args)
	if err := parseFlags(fs, h, flagArgs, lookup, stdout, stderr); err != nil {
		return "", err
	}
	switch len(rest) {
	case 0:
		v, _ := lookup(urlEnv)
		return v, nil
	case 1:
		return rest[0], nil
	default:
		return "", usageError(stderr, fs, h, fmt.Errorf("unexpected argument %q after the URL", rest[1]))
	}
}

// refusal is a [*client.StatusError] as herald's commands print it: the
// URL, the status and the server's reason, each once.
type refusal struct{ *client.StatusError }

func (r refusal) Error() string {
	s := r.URL + " answered " + r.Status
	if r.Message != "" {
		s += ": " + r.Message
	}
	return s
}

func (r refusal) Unwrap() error { return r.StatusError }

// refused returns err, or, when err is a server's refusal, the refusal
// without the client package's prefix and method.
func refused(err error) error {
	var se *client.StatusError
	if errors.As(err, &se) {
		return refusal{se}
	}
	return err
}
