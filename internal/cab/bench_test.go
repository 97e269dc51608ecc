package cab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// BenchmarkWriteVsGcab compares our writer with gcab -c -z (zlib's deflate per block) on the same
// files, alternated: wall time, CPU time (user and system: what a busy machine cannot blur) and
// cabinet size. WSLKERNEL_BENCH_PAYLOAD names a folder of files
// (scripts/bench cab points it at the smoke build's x86_64 outputs: kernel, initrd, modules.vhdx,
// config).
func BenchmarkWriteVsGcab(b *testing.B) {
	dir := os.Getenv("WSLKERNEL_BENCH_PAYLOAD")
	if dir == "" {
		b.Skip("WSLKERNEL_BENCH_PAYLOAD is not set (scripts/bench cab sets it)")
	}
	testtool.Need(b, "gcab")
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	var files []File
	var paths []string
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		files = append(files, File{Name: e.Name(), Data: data})
		paths = append(paths, p)
	}
	scratch := b.TempDir()
	var ours, theirs, oursCPU, theirsCPU []float64
	var ourSize, theirSize int64
	for i := 0; i < b.N; i++ {
		start, cpu := time.Now(), cpuSeconds(b)
		var buf bytes.Buffer
		if err := Write(&buf, files, time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(scratch, "ours.cab"), buf.Bytes(), 0o644); err != nil {
			b.Fatal(err)
		}
		ours = append(ours, time.Since(start).Seconds())
		oursCPU = append(oursCPU, cpuSeconds(b)-cpu)
		ourSize = int64(buf.Len())

		gcab := filepath.Join(scratch, "gcab.cab")
		os.Remove(gcab)
		cmd := exec.Command("gcab", append([]string{"-c", "-z", "-n", gcab}, paths...)...)
		start = time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("gcab: %v\n%s", err, out)
		}
		theirs = append(theirs, time.Since(start).Seconds())
		theirsCPU = append(theirsCPU, (cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()).Seconds())
		info, _ := os.Stat(gcab)
		theirSize = info.Size()
	}
	o, t := testtool.Median(ours), testtool.Median(theirs)
	b.ReportMetric(o, "ours-s")
	b.ReportMetric(t, "gcab-s")
	b.ReportMetric(o/t, "time-ratio")
	b.ReportMetric(testtool.Median(oursCPU), "ours-cpu-s")
	b.ReportMetric(testtool.Median(theirsCPU), "gcab-cpu-s")
	b.ReportMetric(testtool.Median(oursCPU)/testtool.Median(theirsCPU), "cpu-ratio")
	b.ReportMetric(float64(ourSize)/float64(theirSize), "size-ratio")
}

// cpuSeconds is the user and system time this process has used.
func cpuSeconds(b *testing.B) float64 {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		b.Fatal(err)
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano()).Seconds()
}
