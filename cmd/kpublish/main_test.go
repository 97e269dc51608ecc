package main

import (
	"bytes"
	"context"
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
		{args: []string{"--help"}, code: 0, stdout: "--dry-run"},
		{args: []string{"-n", "--config", "../../pipeline.yaml", "--work-dir", "/nonexistent"}, code: 2,
			stderr: "no successful build of profile wsl in /nonexistent: build one first"},
		{args: []string{"--manifest", "/nonexistent/manifest.json", "--config", "../../pipeline.yaml", "-n"}, code: 2, stderr: "kpublish: open /nonexistent/manifest.json"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tc.args, &stdout, &stderr)
		if code != tc.code || !strings.Contains(stdout.String(), tc.stdout) || !strings.Contains(stderr.String(), tc.stderr) {
			t.Errorf("kpublish %s = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
				strings.Join(tc.args, " "), code, stdout.String(), stderr.String(), tc.code, tc.stdout, tc.stderr)
		}
	}
}
