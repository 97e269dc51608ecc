// Package moddisk makes modules.vhdx, the disk WSL mounts to load kernel modules: an ext4 image
// of lib/modules/<release>/ converted to VHDX, as reproducible as e2fsprogs allows.
package moddisk

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// fixedID is the file system UUID and directory hash seed: random ones would make every image
// differ. (mke2fs treats an all-zero UUID as "none" and picks a random seed.)
const fixedID = "6b8b4567-327b-23c6-643c-986966334873"

// Make writes dest, a VHDX holding an ext4 file system whose root is modDir (the
// lib/modules/<release> folder of a modules_install), dated when. The build and source links
// modules_install leaves are removed first: they point into the build machine. dest appears only
// when complete. It returns the number of modules (.ko files) in it. The same modules and time
// give the same bytes (MakeDisks writes the VHD too).
func Make(ctx context.Context, run runner.Runner, modDir, dest string, when time.Time) (int, error) {
	return MakeDisks(ctx, run, modDir, Disks{VHDX: dest}, when)
}

// makeImage writes img, an ext4 file system labelled label whose root is dir, byte-reproducible,
// and returns the number of modules in it.
func makeImage(ctx context.Context, run runner.Runner, modDir, img, label string, when time.Time) (int, error) {
	var size int64
	modules := 0
	err := filepath.WalkDir(modDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil {
			size += info.Size() + 4096
		}
		if strings.HasSuffix(d.Name(), ".ko") || strings.Contains(d.Name(), ".ko.") {
			modules++
		}
		if d.Type()&fs.ModeSymlink != 0 {
			return nil // Chtimes would follow it (to a target elsewhere, or none); pinInodes dates it
		}
		return os.Chtimes(path, when, when)
	})
	if err != nil {
		return 0, err
	}
	// Room for the modules plus a quarter, at least 32 MiB.
	kib := max(size/1024*5/4+1024, 32*1024)
	var out bytes.Buffer
	env := []string{"E2FSPROGS_FAKE_TIME=" + strconv.FormatInt(when.Unix(), 10)}
	args := []string{"-q", "-t", "ext4", "-d", modDir, "-U", fixedID, "-E", "hash_seed=" + fixedID + ",root_owner=0:0", "-L", label, img, fmt.Sprintf("%dk", kib)}
	mke2fs, err := run.LookPath("mke2fs") // Debian keeps it in /usr/sbin, which PATH may lack
	if err != nil {
		return 0, err
	}
	if err := run.Run(ctx, mke2fs, args, env, &out); err != nil {
		return 0, fmt.Errorf("mke2fs %s (e2fsprogs): %v\n%s", strings.Join(args, " "), err, out.String())
	}
	if err := pinInodes(img, when); err != nil {
		return 0, err
	}
	return modules, nil
}

// Standalone lists, from modDir's modules.dep, the modules that need no other module, by the
// name /proc/modules gives them (crc-itu-t.ko is crc_itu_t): the ones a boot test can load alone.
func Standalone(modDir string) ([]string, error) {
	data, err := os.ReadFile(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, err
	}
	var names []string
	for _, line := range strings.Split(string(data), "\n") {
		file, deps, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(deps) != "" {
			continue
		}
		names = append(names, ModuleName(file))
	}
	return names, nil
}

// ModuleName is the name /proc/modules gives the module in file, a modules.dep path:
// kernel/lib/crc-itu-t.ko and kernel/lib/crc-itu-t.ko.xz are crc_itu_t.
func ModuleName(file string) string {
	base := path.Base(file)
	if i := strings.Index(base, ".ko"); i > 0 {
		base = base[:i]
	}
	return strings.ReplaceAll(base, "-", "_")
}
