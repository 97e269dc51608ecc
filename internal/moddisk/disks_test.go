package moddisk

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

var when = time.Unix(1700000000, 0)

// modulesTree writes a small lib/modules/<release> under dir and returns its path.
func modulesTree(t *testing.T, dir string) string {
	t.Helper()
	mod := filepath.Join(dir, "lib/modules/6.12.118.1-microsoft-standard-WSL2")
	files := map[string]string{
		"kernel/lib/crc-itu-t.ko":     "\x7fELF crc-itu-t",
		"kernel/fs/jbd2/jbd2.ko":      "\x7fELF jbd2",
		"kernel/fs/ext4/ext4.ko":      strings.Repeat("\x7fELF ext4 ", 50000), // spans blocks
		"modules.dep":                 "kernel/lib/crc-itu-t.ko:\nkernel/fs/ext4/ext4.ko: kernel/fs/jbd2/jbd2.ko\nkernel/fs/jbd2/jbd2.ko:\n",
		"kernel/drivers/net/dummy.ko": "\x7fELF dummy",
	}
	for name, body := range files {
		p := filepath.Join(mod, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return mod
}

// ctimeOf is when path's inode last changed, to the second, as mke2fs -d copies it.
func ctimeOf(t *testing.T, path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Sys().(*syscall.Stat_t).Ctim.Sec
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Two trees of the same modules, in different folders, made at different wall-clock seconds and
// (as root) owned by different users, give byte-identical disks, whose file system e2fsck passes
// and which hold the one ext4 image both ways (the VHD's bytes before its footer are the image).
func TestMakeDisksIsByteReproducible(t *testing.T) {
	testtool.Need(t, "mke2fs", "e2fsck", "qemu-img")
	first := modulesTree(t, t.TempDir())
	// mke2fs copies ctimes, which only the clock sets: wait for it to pass a second so the
	// second tree's differ (this is the variation under test, not a guess at a race).
	for time.Now().Unix() <= ctimeOf(t, filepath.Join(first, "modules.dep")) {
		time.Sleep(20 * time.Millisecond)
	}
	second := modulesTree(t, t.TempDir())
	if os.Geteuid() == 0 {
		filepath.Walk(second, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, 1000, 1000) })
	}
	var made [2]Disks
	for i, mod := range []string{first, second} {
		dir := t.TempDir()
		made[i] = Disks{VHDX: filepath.Join(dir, "modules.vhdx"), VHD: filepath.Join(dir, "modules.vhd")}
		n, err := MakeDisks(context.Background(), runner.Exec{}, mod, made[i], when)
		if err != nil || n != 4 {
			t.Fatalf("MakeDisks(%s) = %d, %v; want 4 modules", mod, n, err)
		}
	}
	for _, pick := range []func(Disks) string{func(d Disks) string { return d.VHDX }, func(d Disks) string { return d.VHD }} {
		if a, b := readFile(t, pick(made[0])), readFile(t, pick(made[1])); !bytes.Equal(a, b) {
			t.Errorf("%s and %s differ", pick(made[0]), pick(made[1]))
		}
	}
	raw := filepath.Join(t.TempDir(), "modules.img")
	if out, err := exec.Command("qemu-img", "convert", "-f", "vhdx", "-O", "raw", made[0].VHDX, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	vhd := readFile(t, made[0].VHD)
	if !bytes.Equal(readFile(t, raw), vhd[:len(vhd)-512]) {
		t.Error("the VHDX and the VHD hold different images")
	}
	e2fsck, _ := runner.Exec{}.LookPath("e2fsck")
	if out, err := exec.Command(e2fsck, "-fn", raw).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
}
