// Package testtool is for tests that need a real program (xz, cabextract, gcab, osslsigncode,
// qemu): on a developer's machine that lacks one such a test is skipped, but under CI, where
// scripts/setup installs every tool, a missing one is a failure and never a silent skip. It also
// holds the TestMain of packages whose fuzz targets write files (RunMinimizingBriefly).
package testtool

import (
	"cmp"
	"flag"
	"os"
	"slices"
	"strconv"
	"testing"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// Need returns each program's path (found as the pipeline finds it: PATH, then /usr/sbin and
// /sbin), or ends the test: t.Fatal when the CI environment variable is set, else t.Skip.
func Need(t testing.TB, names ...string) []string {
	t.Helper()
	paths := make([]string, len(names))
	for i, name := range names {
		p, err := runner.Exec{}.LookPath(name)
		if err != nil {
			Missing(t, err)
		}
		paths[i] = p
	}
	return paths
}

// Missing ends the test for want of something real it needs, which err describes: t.Fatal under
// CI, else t.Skip. Use Need for a program; this for the rest (a shell command that fails here).
func Missing(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("CI is set, so every tool must be here (run scripts/setup): %v", err)
		return
	}
	t.Skipf("skipped: %v (scripts/setup installs it; with CI set this fails)", err)
}

// Median is the middle of v (the upper middle of an even count), as benchmarks that alternate
// us and the tool we compare with report it; v is left unsorted.
func Median[T cmp.Ordered](v []T) T {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// RunMinimizingBriefly is m.Run for a package's TestMain with go test -fuzz minimizing each input
// in at most calls calls of the fuzz target, unless -fuzzminimizetime says otherwise. Go's engine
// minimizes every input that finds new coverage, for up to 60 s by default, by deleting bytes
// and byte ranges (up to n²/2 calls for n bytes), and reports no exec meanwhile. For a target
// that writes files, a millisecond or more a call, every new input costs the whole minute: the
// tar reader's target showed one exec a second, the series reader's stood still for 15 s at a
// time. Pass -fuzzminimizetime=60s to shrink a crasher further.
func RunMinimizingBriefly(m *testing.M, calls int) int {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.fuzzminimizetime" })
	if !explicit {
		if err := flag.Set("test.fuzzminimizetime", strconv.Itoa(calls)+"x"); err != nil {
			panic(err) // the testing package no longer has the flag
		}
	}
	return m.Run()
}
