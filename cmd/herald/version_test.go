package main

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	platform := " " + runtime.GOOS + "/" + runtime.GOARCH + "\n"
	vcs := func(kv ...string) []debug.BuildSetting {
		var s []debug.BuildSetting
		for i := 0; i < len(kv); i += 2 {
			s = append(s, debug.BuildSetting{Key: kv[i], Value: kv[i+1]})
		}
		return s
	}
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want string
	}{
		{name: "no_build_info", bi: nil, want: "herald (devel) " + runtime.Version() + platform},
		{name: "devel_without_vcs", bi: &debug.BuildInfo{GoVersion: "go1.25.4", Main: debug.Module{Version: "(devel)"}},
			want: "herald (devel) go1.25.4" + platform},
		{name: "empty_main_version", bi: &debug.BuildInfo{GoVersion: "go1.25.4"}, want: "herald (devel) go1.25.4" + platform},
		{name: "module_version", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v1.2.0"}},
			want: "herald v1.2.0 go1.26.0" + platform},
		{name: "vcs_revision_and_time", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "(devel)"},
			Settings: vcs("vcs", "git", "vcs.revision", "1a2b3c4d5e6f7a8b9c0d", "vcs.time", "2025-11-26T12:00:00Z", "vcs.modified", "false")},
			want: "herald (devel) (1a2b3c4d5e6f, 2025-11-26T12:00:00Z) go1.26.0" + platform},
		{name: "vcs_modified", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Main: debug.Module{Version: "v0.0.0-20251126120000-1a2b3c4d5e6f+dirty"},
			Settings: vcs("vcs.revision", "1a2b3c4d5e6f7a8b9c0d", "vcs.time", "2025-11-26T12:00:00Z", "vcs.modified", "true")},
			want: "herald v0.0.0-20251126120000-1a2b3c4d5e6f+dirty (1a2b3c4d5e6f, 2025-11-26T12:00:00Z, modified) go1.26.0" + platform},
		{name: "short_revision_no_time", bi: &debug.BuildInfo{GoVersion: "go1.26.0", Settings: vcs("vcs.revision", "abc")},
			want: "herald (devel) (abc) go1.26.0" + platform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionText(tt.bi); got != tt.want {
				t.Errorf("versionText() = %q, want %q", got, tt.want)
			}
		})
	}
}

// TestVersionCommand checks that "herald version" and "herald --version"
// print this binary's build, on one line.
func TestVersionCommand(t *testing.T) {
	bi, _ := debug.ReadBuildInfo()
	want := versionText(bi)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		stdout, stderr, err := runCmd(t.Context(), args...)
		if err != nil || stdout != want || stderr != "" {
			t.Errorf("herald %q = %q, %q, %v; want %q", args, stdout, stderr, err, want)
		}
		if !strings.HasPrefix(stdout, "herald ") || !strings.Contains(stdout, runtime.Version()) || strings.Count(stdout, "\n") != 1 {
			t.Errorf("herald %q = %q, want one line naming herald and %s", args, stdout, runtime.Version())
		}
	}
}
