package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"
)

// envPrefix starts the name of every flag's environment variable twin.
const envPrefix = "HERALD_"

// envName returns the environment variable twin of the flag name:
// "stream-interval" is HERALD_STREAM_INTERVAL.
func envName(flagName string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// applyEnv sets each flag of fs that the command line did not set from its
// environment variable twin, read with lookup (os.LookupEnv in herald), so a
// flag on the command line wins over its variable. Call it after fs.Parse.
// It returns every variable whose value the flag rejects.
func applyEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	given := make(map[string]bool)
	fs.Visit(func(f *flag.Flag) { given[f.Name] = true })
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] {
			return
		}
		name := envName(f.Name)
		v, ok := lookup(name)
		if !ok {
			return
		}
		if err := fs.Set(f.Name, v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, v, err))
		}
	})
	return errors.Join(errs...)
}

// flagGroup is a heading of a command's help and the flags listed under it,
// in that order.
type flagGroup struct {
	title string
	names []string
}

// help is what "herald <command> -h" says besides each flag.
type help struct {
	args   string      // what follows [flags] on the usage line, such as "[URL]"; empty for nothing
	text   string      // the paragraph under the usage line
	groups []flagGroup // headings over the flags; flags in none come last
}

// helpShown returns err from parseFlags or parseWithURL as a command's
// result: nil after -h, which printed the help and is no failure.
func helpShown(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	return err
}

// parseFlags parses args into fs, then applies the environment twins, then
// checks that no size, count or duration is negative. On -h it prints help
// (see printFlags) to stdout and returns flag.ErrHelp; on a mistake it
// prints the error and the help to stderr and returns an error wrapping
// errUsage.
func parseFlags(fs *flag.FlagSet, h help, args []string, lookup func(string) (string, bool), stdout, stderr io.Writer) error {
	fs.SetOutput(io.Discard) // the messages below replace flag's own
	err := fs.Parse(args)
	if err == nil && fs.NArg() > 0 {
		err = fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if err == nil {
		err = applyEnv(fs, lookup)
	}
	if err == nil {
		err = checkNotNegative(fs)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		printFlags(stdout, fs, h)
		return err
	default:
		return usageError(stderr, fs, h, err)
	}
}

// usageError prints err and the help of the command fs to w, and returns
// err wrapped in errUsage.
func usageError(w io.Writer, fs *flag.FlagSet, h help, err error) error {
	fmt.Fprintf(w, "herald %s: %v\n\n", fs.Name(), err)
	printFlags(w, fs, h)
	return fmt.Errorf("%w: %w", errUsage, err)
}

// checkNotNegative returns an error for each integer or duration flag of fs
// whose value is negative.
func checkNotNegative(fs *flag.FlagSet) error {
	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		g, ok := f.Value.(flag.Getter)
		if !ok {
			return
		}
		negative := false
		switch v := g.Get().(type) {
		case int:
			negative = v < 0
		case int64:
			negative = v < 0
		case time.Duration:
			negative = v < 0
		}
		if negative {
			errs = append(errs, fmt.Errorf("--%s (or %s) must not be negative, got %s", f.Name, envName(f.Name), f.Value))
		}
	})
	return errors.Join(errs...)
}

// printFlags writes the help of the command fs: its usage line, the help
// paragraph, then each flag with its default and its environment variable,
// under the headings of h.groups; flags in no group come last.
func printFlags(w io.Writer, fs *flag.FlagSet, h help) {
	usage := "herald " + fs.Name() + " [flags]"
	if h.args != "" {
		usage += " " + h.args
	}
	fmt.Fprintf(w, "Usage: %s\n\n%s\n\n", usage, h.text)
	fmt.Fprint(w, "Flags (each also read from its environment variable; a flag wins):\n")
	listed := make(map[string]bool)
	printFlag := func(f *flag.Flag) {
		typ, help := flag.UnquoteUsage(f)
		fmt.Fprintf(w, "  --%s %s\n    \t%s\n    \t(default %s; env %s)\n", f.Name, typ, help, defaultText(f), envName(f.Name))
		listed[f.Name] = true
	}
	for _, g := range h.groups {
		fmt.Fprintf(w, "\n%s:\n", g.title)
		for _, name := range g.names {
			if f := fs.Lookup(name); f != nil {
				printFlag(f)
			}
		}
	}
	heading := len(h.groups) > 0
	fs.VisitAll(func(f *flag.Flag) {
		if listed[f.Name] {
			return
		}
		if heading {
			fmt.Fprint(w, "\nOther:\n")
			heading = false
		}
		printFlag(f)
	})
}

func defaultText(f *flag.Flag) string {
	if f.DefValue == "" {
		return `""`
	}
	return f.DefValue
}
