package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"point"}, {"set"}, {"set", "-kernel"}, {"restore", "-kernel", `C:\k`, "extra"}} {
		var stderr strings.Builder
		if code := run(args, nil, &stderr); code != 2 || !strings.Contains(stderr.String(), "usage: wslconfig-action set|restore|grant") {
			t.Errorf("run(%q) = %d, %q", args, code, stderr.String())
		}
	}
}

// A failure exits 1 (which fails the install) and says why on stderr and in the log in the
// user's temporary folder, since Windows Installer keeps no output of the program.
func TestAFailureIsLogged(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	noProfile := func() (string, string, error) { return "", "", errors.New("no profile here") }
	var stderr strings.Builder
	if code := run([]string{"set", "-kernel", `C:\wsl-kernel\6.12.118.1\kernel`}, noProfile, &stderr); code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	log, err := os.ReadFile(filepath.Join(tmp, LogName))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`wslconfig-action set -kernel C:\wsl-kernel\6.12.118.1\kernel`, "failed         no profile here"} {
		if !strings.Contains(string(log), want) || !strings.Contains(stderr.String(), want) {
			t.Errorf("log %q, stderr %q: want %q in both", log, stderr.String(), want)
		}
	}
}
