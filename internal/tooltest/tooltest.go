// Package tooltest finds the external programs a test of the real thing needs. Where one is
// missing the test is skipped on a developer's machine, but fails under CI (CI set), where
// scripts/setup has installed everything and a missing tool is a broken setup, not a choice.
package tooltest

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// Need returns the paths of the programs named, looking in /usr/sbin and /sbin too (Debian keeps
// mke2fs, debugfs and e2fsck there, off a normal user's PATH).
func Need(t testing.TB, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, name := range names {
		p, err := Find(name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s not installed, and CI is set (scripts/setup installs it): %v", name, err)
			}
			t.Skipf("%s not installed (scripts/setup installs it)", name)
		}
		paths[i] = p
	}
	return paths
}

// Find looks name up on PATH, then in /usr/sbin and /sbin.
func Find(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(dir, name); isExecutable(p) {
			return p, nil
		}
	}
	return "", err
}

func isExecutable(p string) bool {
	info, err := os.Stat(p)
	return err == nil && !info.IsDir() && info.Mode()&0o111 != 0
}

// Median is the middle of v (the upper middle of an even count), as benchmarks that alternate
// us and the tool we compare with report it; v is left unsorted.
func Median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}
