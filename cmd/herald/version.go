package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// runVersion is the version command, also run by "herald --version".
func runVersion(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		fmt.Fprintf(stderr, "herald version: unexpected argument %q\n\nUsage: herald version (or herald --version)\n", args[0])
		return fmt.Errorf("%w: unexpected argument %q", errUsage, args[0])
	}
	bi, _ := debug.ReadBuildInfo()
	_, err := io.WriteString(stdout, versionText(bi))
	return err
}

// versionText describes the build bi (nil when the binary carries no
// build information) on one line: herald's module version ("(devel)" for
// a build from a work tree), the commit and its time when the build
// recorded them, "modified" when the work tree had changes, then the Go
// version, OS and architecture:
//
//	herald v1.2.0 (1a2b3c4d5e6f, 2025-11-26T12:00:00Z) go1.26.0 linux/amd64
func versionText(bi *debug.BuildInfo) string {
	version, goVersion := "(devel)", runtime.Version()
	var revision, at string
	modified := false
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				at = s.Value
			case "vcs.modified":
				modified = s.Value == "true"
			}
		}
	}
	text := "herald " + version
	if revision != "" {
		text += " (" + revision[:min(len(revision), 12)]
		if at != "" {
			text += ", " + at
		}
		if modified {
			text += ", modified"
		}
		text += ")"
	}
	return fmt.Sprintf("%s %s %s/%s\n", text, goVersion, runtime.GOOS, runtime.GOARCH)
}
