package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPlanSaysWhereTheReleaseCameFrom: the newest of the series (in releases.json or among the
// tags), upstream.pin with its place in pipeline.yaml, or --release; never one for another.
func TestPlanSaysWhereTheReleaseCameFrom(t *testing.T) {
	korg := kernelOrg(t)
	plain, pinned, tags := smokeLine(t, korg, ""), smokeLine(t, korg, "\n  pin: 6.12.1"), smokeLine(t, korg, "\n  resolve: tags")
	for _, tc := range []struct {
		config string
		args   []string
		want   string
		not    []string
	}{
		{config: plain, want: "upstream v6.12.2 (newest of 6.12 in file://" + korg + "/releases.json)\n", not: []string{"pinned", "--release"}},
		{config: tags, want: "upstream v6.12.2 (newest of 6.12 in the tags of file://" + korg + "/linux.git)\n", not: []string{"pinned", "--release"}},
		{config: pinned, want: "upstream v6.12.1 (pinned by upstream.pin at " + pinned + ":7)\n", not: []string{"newest", "--release"}},
		{config: plain, args: []string{"--release", "6.12.1"}, want: "upstream v6.12.1 (given by --release)\n", not: []string{"newest", "pinned"}},
		{config: pinned, args: []string{"--release", "6.12.2"}, want: "upstream v6.12.2 (given by --release, over upstream.pin 6.12.1)\n", not: []string{"newest"}},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"plan", "--config", tc.config, "--profile", "smoke", "--work-dir", t.TempDir(), "--cache-dir", t.TempDir()}, tc.args...)
		code := run(context.Background(), args, &stdout, &stderr)
		upstreamLines := stdout.String()
		if i := strings.Index(upstreamLines, "version "); i >= 0 {
			upstreamLines = upstreamLines[:i]
		}
		bad := code != 0 || !strings.Contains(upstreamLines, tc.want)
		for _, n := range tc.not {
			bad = bad || strings.Contains(upstreamLines, n)
		}
		if bad {
			t.Errorf("kbuild %s = %d\nstdout: %s\nstderr: %s\nwant 0 and %q, without %q", strings.Join(args, " "), code, stdout.String(), stderr.String(), tc.want, tc.not)
		}
	}
}

// TestPlanPrintsTheCommandsItWouldRun: each stage's programs come from the code that runs them,
// through the dry-run runner, and nothing is made in the work dir.
func TestPlanPrintsTheCommandsItWouldRun(t *testing.T) {
	korg := kernelOrg(t)
	work := t.TempDir()
	var stdout, stderr bytes.Buffer
	args := []string{"plan", "--config", smokeLine(t, korg, ""), "--profile", "smoke", "--work-dir", work, "--cache-dir", t.TempDir()}
	if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
		t.Fatalf("kbuild plan = %d: %s", code, stderr.String())
	}
	src, build := filepath.Join(work, "src", "smoke"), filepath.Join(work, "build", "smoke", "x86_64")
	for _, want := range []string{
		"  build      [x86_64] make bzImage (ccache)\n             $ KBUILD_BUILD_USER=wslkernel ",
		" make -C " + src + " O=" + build + " ARCH=x86_64 ",
		" bzImage\n",
		" olddefconfig\n",
		"             $ qemu-system-x86_64 ",
	} {
		if !strings.Contains(stdout.String(), want) {
			t.Errorf("kbuild plan lacks %q:\n%s", want, stdout.String())
		}
	}
	if entries, _ := os.ReadDir(work); len(entries) > 0 {
		t.Errorf("kbuild plan made %v in the work dir", entries)
	}
}
