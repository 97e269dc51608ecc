package initrd

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// benchTree is the kernel's fs/ folder (about 50 MB of real files) from the tree named by
// WSLKERNEL_BENCH_SRC, and the spec that lists it.
func benchTree(b *testing.B) (string, []Entry) {
	b.Helper()
	src := os.Getenv("WSLKERNEL_BENCH_SRC")
	if src == "" {
		b.Skip("WSLKERNEL_BENCH_SRC names no kernel tree (scripts/bench sets it)")
	}
	root := filepath.Join(src, "fs")
	var entries []Entry
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		name := strings.TrimPrefix(p, root)
		switch {
		case d.IsDir():
			entries = append(entries, Entry{Kind: Dir, Name: name, Mode: 0o755})
		case d.Type().IsRegular():
			entries = append(entries, Entry{Kind: File, Name: name, Source: p, Mode: 0o644})
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	return root, entries
}

// BenchmarkWriteVsCpioGzip compares our initrd writer with what a user would run instead,
// find | cpio -o -H newc | gzip -9 (and | zstd, at its default level), alternating the two and taking
// medians; it checks both archives unpack to the same files. Ratios: ours/theirs time.
func BenchmarkWriteVsCpioGzip(b *testing.B) {
	testtool.Need(b, "cpio", "gzip", "zstd")
	root, entries := benchTree(b)
	out := b.TempDir()
	for _, c := range []struct{ ours, theirs string }{{"gzip", "gzip -9 -n"}, {"zstd", "zstd -q -T1"}} {
		var ours, theirs []time.Duration
		for i := 0; i < max(b.N, 3); i++ {
			start := time.Now()
			if err := Write(context.Background(), runner.Exec{}, filepath.Join(out, "ours."+c.ours), entries, 1700000000, c.ours); err != nil {
				b.Fatal(err)
			}
			ours = append(ours, time.Since(start))
			start = time.Now()
			cmd := exec.Command("sh", "-c", "find . | LC_ALL=C sort | cpio -o -H newc --quiet | "+c.theirs+" > "+filepath.Join(out, "theirs."+c.ours))
			cmd.Dir = root
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v\n%s", err, o)
			}
			theirs = append(theirs, time.Since(start))
		}
		if a, t := listing(b, filepath.Join(out, "ours."+c.ours)), listing(b, filepath.Join(out, "theirs."+c.ours)); a != t {
			b.Fatalf("%s: the two archives hold different files", c.ours)
		}
		mo, mt := testtool.Median(ours), testtool.Median(theirs)
		so, _ := os.Stat(filepath.Join(out, "ours."+c.ours))
		st, _ := os.Stat(filepath.Join(out, "theirs."+c.ours))
		b.ReportMetric(mo.Seconds(), c.ours+"-ours-s")
		b.ReportMetric(mt.Seconds(), c.ours+"-theirs-s")
		b.ReportMetric(mo.Seconds()/mt.Seconds(), c.ours+"-time-ratio")
		b.ReportMetric(float64(so.Size())/float64(st.Size()), c.ours+"-size-ratio")
	}
}

// listing is the name and checksum of every regular file in a compressed archive, extracted by
// GNU cpio.
func listing(b *testing.B, archive string) string {
	dir := b.TempDir()
	dec := "gzip -dc"
	if strings.HasSuffix(archive, "zstd") {
		dec = "zstd -dc"
	}
	cmd := exec.Command("sh", "-c", dec+" "+archive+" | cpio -id --quiet && find . -type f -exec md5sum {} + | LC_ALL=C sort -k2")
	cmd.Dir = dir
	o, err := cmd.Output()
	if err != nil {
		b.Fatalf("unpacking %s: %v", archive, err)
	}
	return string(o)
}
