package upstream

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/version"
)

// BenchmarkPointReleaseUpdate measures fetching v6.12.118 into a mirror that holds v6.12.117
// against fetching it into an empty mirror, alternating the two on the real local kernel.org
// (KERNEL_ORG, made by scripts/mirror), and reports the ratio of the medians. Run by scripts/bench.
func BenchmarkPointReleaseUpdate(b *testing.B) {
	korg := os.Getenv("KERNEL_ORG")
	if korg == "" {
		b.Skip("KERNEL_ORG is not set: run scripts/bench")
	}
	url := "file://" + filepath.Join(korg, "linux.git")
	ctx := context.Background()
	r117, _ := version.ParseRelease("6.12.117")
	r118, _ := version.ParseRelease("6.12.118")

	// One mirror holding v6.12.117, copied before every update so each starts from the same state.
	seed := b.TempDir()
	m, unlock, err := OpenMirror(context.Background(), seed, url)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := m.FetchTag(ctx, r117, nil); err != nil {
		b.Fatal(err)
	}
	unlock()

	fetch := func(cache string) time.Duration {
		m, unlock, err := OpenMirror(context.Background(), cache, url)
		if err != nil {
			b.Fatal(err)
		}
		defer unlock()
		start := time.Now()
		if _, err := m.FetchTag(ctx, r118, nil); err != nil {
			b.Fatal(err)
		}
		return time.Since(start)
	}
	var updates, fresh []time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		work := b.TempDir()
		if out, err := exec.Command("cp", "-a", seed, filepath.Join(work, "update")).CombinedOutput(); err != nil {
			b.Fatalf("cp: %v\n%s", err, out)
		}
		b.StartTimer()
		updates = append(updates, fetch(filepath.Join(work, "update")))
		fresh = append(fresh, fetch(filepath.Join(work, "fresh")))
		b.StopTimer()
		os.RemoveAll(work)
	}
	up, fr := testtool.Median(updates), testtool.Median(fresh)
	b.ReportMetric(up.Seconds(), "update-s")
	b.ReportMetric(fr.Seconds(), "fresh-s")
	b.ReportMetric(up.Seconds()/fr.Seconds(), "update/fresh")
}
