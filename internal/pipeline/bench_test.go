package pipeline

import (
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// BenchmarkOrchestratedBuild compares the build stage's make (through kbuild.Tree.Make, with the
// progress counter and the first-error capture reading every line) with the same make command run
// straight from a shell, on the same configured tree, each from a clean O= folder, alternated.
// WSLKERNEL_BENCH_BUILD names a configured O= folder (its source link gives the tree); scripts/bench
// build points it at the smoke profile's. Both build in the same O= folder, emptied before each
// build, because the folder's path is part of every compile command (-ffile-prefix-map) and so
// of ccache's key: a first, untimed build warms the cache for it, and then both sides do the same
// work.
func BenchmarkOrchestratedBuild(b *testing.B) {
	configured := os.Getenv("WSLKERNEL_BENCH_BUILD")
	if configured == "" {
		b.Skip("WSLKERNEL_BENCH_BUILD is not set (scripts/bench build sets it)")
	}
	src, err := filepath.EvalSymlinks(filepath.Join(configured, "source"))
	if err != nil {
		b.Fatal(err)
	}
	config, err := os.ReadFile(filepath.Join(configured, ".config"))
	if err != nil {
		b.Fatal(err)
	}
	release, err := os.ReadFile(filepath.Join(configured, "include/config/kernel.release"))
	if err != nil {
		b.Fatal(err)
	}
	// 6.12.118.1-microsoft-standard-WSL2: EXTRAVERSION is what follows x.y.z up to the local version.
	extra := regexp.MustCompile(`^\d+\.\d+\.\d+([^-]*)`).FindSubmatch(release)[1]
	// A fixed folder, not b.TempDir(): the benchmark function runs more than once, and ccache's
	// key holds the path.
	scratch := filepath.Join(os.TempDir(), "wslkernel-bench-build")
	defer os.RemoveAll(scratch)
	fresh := func(name string) *kbuild.Tree {
		out := filepath.Join(scratch, name)
		if err := os.RemoveAll(out); err != nil {
			b.Fatal(err)
		}
		os.MkdirAll(out, 0o755)
		if err := os.WriteFile(filepath.Join(out, ".config"), config, 0o644); err != nil {
			b.Fatal(err)
		}
		a, _ := kbuild.LookupArch("x86_64")
		return &kbuild.Tree{Src: src, Out: out, Arch: a, ExtraVersion: string(extra), Timestamp: time.Unix(1764000000, 0), Runner: runner.Exec{}}
	}
	warm := fresh("o")
	if err := warm.Make(context.Background(), io.Discard, "bzImage"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var ours, raw []float64
	for i := 0; i < b.N; i++ {
		t := fresh("o")
		log, _ := os.Create(filepath.Join(scratch, "ours.log"))
		p := &buildProgress{log: log, label: "build", start: time.Now()}
		start := time.Now()
		if err := t.Make(context.Background(), p, "bzImage"); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start).Seconds())
		log.Close()

		t = fresh("o")
		cmd := exec.Command("make", t.Args("bzImage")...)
		cmd.Env = append(os.Environ(), t.Env()...)
		log, _ = os.Create(filepath.Join(scratch, "raw.log"))
		cmd.Stdout, cmd.Stderr = log, log
		start = time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		raw = append(raw, time.Since(start).Seconds())
		log.Close()
	}
	o, r := testtool.Median(ours), testtool.Median(raw)
	b.ReportMetric(o, "ours-s")
	b.ReportMetric(r, "raw-s")
	b.ReportMetric(o/r, "ours/raw")
}
