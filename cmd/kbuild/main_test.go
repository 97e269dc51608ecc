package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExitCodes(t *testing.T) {
	for _, tc := range []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: []string{"--help"}, code: 0, stdout: "Exit codes: 0 success, 1 the pipeline failed, 2 bad usage"},
		{args: []string{"run", "--help"}, code: 0, stdout: "manifest.json"},
		{args: []string{"plan", "--config", "/nonexistent/pipeline.yaml"}, code: 2, stderr: "kbuild: pipeline: open /nonexistent/pipeline.yaml"},
		{args: []string{"plan", "--config", "../../pipeline.yaml", "--profile", "nope"}, code: 2, stderr: `no profile "nope" (profiles: smoke, smoke-tarball, wsl)`},
		{args: []string{"bogus"}, code: 2, stderr: `unknown command "bogus"`},
		{args: []string{"plan", "extra"}, code: 2, stderr: `unknown command "extra"`},
		{args: []string{"run", "--no-such-flag"}, code: 2, stderr: "unknown flag: --no-such-flag"},
		{args: []string{"check", "--help"}, code: 0, stdout: "3 up to date: nothing to do"},
		{args: []string{"check", "--help"}, code: 0, stdout: "4 up to date, but the followed series is end-of-life or a newer\nlongterm series is out"},
		{args: []string{"--help"}, code: 0, stdout: "4 when there is nothing new but the\nfollowed series is end-of-life"},
		{args: []string{"fetch", "--help"}, code: 0, stdout: "source tree's path"},
		{args: []string{"config", "diff", "../../configs/smoke.config", "../../configs/wsl.config"}, code: 0, stdout: "-VIRTIO_MENU y\n+9P_FS y\n"},
		{args: []string{"config", "diff", "../../configs/smoke.config"}, code: 2, stderr: "accepts 2 arg(s), received 1"},
		{args: []string{"config", "diff", "../../configs/smoke.config", "/nonexistent"}, code: 2, stderr: "open /nonexistent"},
		{args: []string{"plan", "--config", "../../pipeline.yaml", "--release", "6.6.1"}, code: 2, stderr: "--release 6.6.1 is not in the series 6.12"},
		{args: []string{"custom", "--config", "../../pipeline.yaml", "--feature", "dokcer-nft"}, code: 2, stderr: `--feature dokcer-nft: no such feature: "dokcer-nft" is not in`},
		{args: []string{"custom", "--config", "../../pipeline.yaml", "--feature", "dokcer-nft"}, code: 2, stderr: `; did you mean "docker-nft"?`},
		{args: []string{"features", "--config", "../../pipeline.yaml", "--work-dir", "/nonexistent"}, code: 0, stdout: "docker-nft          yes      Docker and Podman networking"},
		{args: []string{"features", "--config", "../../pipeline.yaml", "--config-file", "../../configs/smoke.config"}, code: 1, stdout: "docker-nft          yes      MISSING  Docker"},
		{args: []string{"features", "--config", "../../pipeline.yaml", "--config-file", "/nonexistent/.config"}, code: 2, stderr: "open /nonexistent/.config"},
		{args: []string{"plan", "--config", "../../pipeline.yaml", "--release", "6.x"}, code: 2, stderr: `--release: release "6.x": malformed version`},
		{args: []string{"port", "--help"}, code: 0, stdout: "5 it does not yet (the report says what to\nchange)"},
		{args: []string{"port", "--config", "../../pipeline.yaml"}, code: 2, stderr: `required flag(s) "series" not set`},
		{args: []string{"port", "--config", "../../pipeline.yaml", "--series", "7"}, code: 2, stderr: `--series: series "7"`},
		{args: []string{"port", "--config", "../../pipeline.yaml", "--series", "7.2", "--release", "7.2.1"}, code: 2, stderr: "--release: port takes the newest release of --series"},
		{args: []string{"port", "--config", "../../pipeline.yaml", "--series", "6.12"}, code: 2, stderr: "follows 6.12 already"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("kbuild %s = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
				strings.Join(tc.args, " "), code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

// kbuild features judges on the series of the tree at hand, and says which and why.
func TestFeaturesJudgesOnTheTreesSeries(t *testing.T) {
	tree := t.TempDir()
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte("VERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 13\nEXTRAVERSION =\n"), 0o644)
	os.WriteFile(filepath.Join(tree, "Kconfig"), []byte("config NFS_FS\n\ttristate \"NFS\"\n"), 0o644)
	features := []string{"features", "--config", "../../pipeline.yaml", "--config-file", "../../configs/smoke.config"}
	pipeline, _ := filepath.Abs("../../pipeline.yaml")
	for _, tc := range []struct {
		args           []string
		code           int
		stdout, stderr string
	}{
		{nil, 1, "judged on x86_64, series 6.12 (the series " + pipeline + " follows; no kernel tree at hand", ""},
		{[]string{"--series", "7.2", "--arch", "arm64"}, 1, "judged on arm64, series 7.2 (--series)\n", ""},
		{[]string{"--kernel-tree", tree}, 1, "judged on x86_64, series 7.2 (Linux 7.2.13, " + filepath.Join(tree, "Makefile") + ")\n", ""},
		{[]string{"--kernel-tree", tree, "--series", "6.12"}, 2, "", "--series 6.12, but the kernel tree " + tree + " is Linux 7.2.13"},
		{[]string{"--series", "7"}, 2, "", `--series: series "7"`},
	} {
		var stdout, stderr bytes.Buffer
		args := append(slices.Clone(features), tc.args...)
		code := run(context.Background(), args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("kbuild %s = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
				strings.Join(args, " "), code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}

// TestNestedExitCodes runs commands two levels deep (kbuild config explain): their usage errors
// exit 2 and their work failures 1, as at the first level.
func TestNestedExitCodes(t *testing.T) {
	damaged := t.TempDir() // a configured tree whose source link is gone: the work failed, not the caller
	tree := filepath.Join(damaged, "build", "wsl", "x86_64")
	if err := os.MkdirAll(tree, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{".config", ".config.base"} {
		if err := os.WriteFile(filepath.Join(tree, name), []byte("CONFIG_FOO=y\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		args   []string
		code   int
		stderr string
	}{
		{args: []string{"config", "explain", "FOO", "--work-dir", "/nonexistent"}, code: 2, stderr: "work dir /nonexistent does not exist"},
		{args: []string{"config", "explain", "FOO", "--arch", "riscv", "--work-dir", damaged}, code: 2, stderr: "--arch riscv: profile wsl builds x86_64, arm64"},
		{args: []string{"config", "explain", "FOO", "--config", "/nonexistent/pipeline.yaml"}, code: 2, stderr: "open /nonexistent/pipeline.yaml"},
		{args: []string{"config", "explain", "FOO", "--work-dir", damaged}, code: 1, stderr: "the build tree has no source link"},
		{args: []string{"patches", "refresh", "--bogus"}, code: 2, stderr: "unknown flag: --bogus"},
		{args: []string{"run", "--arch", "riscv"}, code: 2, stderr: "--arch riscv: profile wsl builds x86_64, arm64"},
		{args: []string{"boot", "--arch", "riscv"}, code: 2, stderr: "--arch riscv: profile wsl builds x86_64, arm64"},
		{args: []string{"verify", "--arch", "x86_64", "--arch", "riscv"}, code: 2, stderr: "--arch riscv: profile wsl builds x86_64, arm64"},
	} {
		var stdout, stderr bytes.Buffer
		args := append([]string{"--config", "../../pipeline.yaml"}, tc.args...)
		code := run(context.Background(), args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("kbuild %s = %d, stderr: %s\nwant %d, stderr with %q", strings.Join(args, " "), code, stderr.String(), tc.code, tc.stderr)
		}
	}
}
