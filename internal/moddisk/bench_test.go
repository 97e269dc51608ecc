package moddisk

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// BenchmarkVHDXVsQemuImg compares our VHDX writer with qemu-img convert -O vhdx, as the pipeline
// ran it (dynamic, 1 MiB blocks), on the same ext4 image, alternated: wall time (ours includes
// the fsync before its rename; qemu-img's is reported with and without one) and file size;
// and whether two runs of each give the same bytes. WSLKERNEL_BENCH_TREE names the folder the
// image is made of (scripts/bench vhdx extracts fs/ and drivers/net/ of Debian's kernel source);
// making the image is not timed.
func BenchmarkVHDXVsQemuImg(b *testing.B) {
	tree := os.Getenv("WSLKERNEL_BENCH_TREE")
	if tree == "" {
		b.Skip("WSLKERNEL_BENCH_TREE is not set (scripts/bench vhdx sets it)")
	}
	scratch := b.TempDir()
	img := filepath.Join(scratch, "modules.img")
	if _, err := makeImage(context.Background(), runner.Exec{}, tree, img, "modules", time.Unix(1700000000, 0)); err != nil {
		b.Fatal(err)
	}
	var ours, theirs, theirSync []float64
	var outputs [2][][]byte
	for i := 0; i < b.N; i++ {
		dest := filepath.Join(scratch, "ours.vhdx")
		start := time.Now()
		if err := WriteDisks(img, Disks{VHDX: dest}, time.Unix(1700000000, 0)); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start).Seconds())
		outputs[0] = append(outputs[0], readAll(b, dest))

		dest = filepath.Join(scratch, "qemu.vhdx")
		os.Remove(dest)
		cmd := exec.Command("qemu-img", "convert", "-O", "vhdx", "-o", "subformat=dynamic,block_size=1M", img, dest)
		start = time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("qemu-img convert: %v\n%s", err, out)
		}
		theirs = append(theirs, time.Since(start).Seconds())
		// Ours syncs its file before it renames it into place; qemu-img does not. Time the same
		// for qemu-img's output, so the two can be compared like for like.
		start = time.Now()
		if err := syncFile(dest); err != nil {
			b.Fatal(err)
		}
		theirSync = append(theirSync, time.Since(start).Seconds()+theirs[len(theirs)-1])
		outputs[1] = append(outputs[1], readAll(b, dest))
	}
	info, _ := os.Stat(img)
	o, t, ts := testtool.Median(ours), testtool.Median(theirs), testtool.Median(theirSync)
	b.ReportMetric(float64(info.Size())/(1<<20), "image-MiB")
	b.ReportMetric(o, "ours-s")
	b.ReportMetric(t, "qemu-s")
	b.ReportMetric(ts, "qemu-fsync-s")
	b.ReportMetric(o/t, "time-ratio")
	b.ReportMetric(o/ts, "time-ratio-fsync")
	b.ReportMetric(float64(len(outputs[0][0]))/(1<<20), "ours-MiB")
	b.ReportMetric(float64(len(outputs[1][0]))/(1<<20), "qemu-MiB")
	b.ReportMetric(float64(len(outputs[0][0]))/float64(len(outputs[1][0])), "size-ratio")
	b.ReportMetric(float64(differingRuns(outputs[0])), "ours-differing-runs")
	b.ReportMetric(float64(differingRuns(outputs[1])), "qemu-differing-runs")
}

func readAll(b *testing.B, p string) []byte {
	data, err := os.ReadFile(p)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

func syncFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// differingRuns counts the runs whose output differs from the first run's.
func differingRuns(runs [][]byte) int {
	n := 0
	for _, r := range runs[1:] {
		if !bytes.Equal(r, runs[0]) {
			n++
		}
	}
	return n
}
