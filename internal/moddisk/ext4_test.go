package moddisk

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// debugfs runs one debugfs request on img and returns what it printed.
func debugfs(t *testing.T, img, request string) string {
	t.Helper()
	tool := testtool.Need(t, "debugfs")[0]
	out, err := exec.Command(tool, "-R", request, img).CombinedOutput()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v\n%s", request, err, out)
	}
	return string(out)
}

// Every inode of the image carries the one time asked for and root as owner, whatever the
// tree's times and owners, and e2fsck still finds every checksum right.
func TestMakeImagePinsTimesAndOwners(t *testing.T) {
	tools := testtool.Need(t, "mke2fs", "e2fsck")
	mod := modulesTree(t, t.TempDir())
	if os.Geteuid() == 0 {
		os.Lchown(filepath.Join(mod, "modules.dep"), 1000, 1001)
	}
	img := filepath.Join(t.TempDir(), "modules.img")
	if _, err := makeImage(context.Background(), runner.Exec{}, mod, img, "modules", when); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(tools[1], "-fn", img).CombinedOutput(); err != nil {
		t.Fatalf("e2fsck -fn: %v\n%s", err, out)
	}
	stamp := fmt.Sprintf("0x%08x:00000000", when.Unix())
	for _, p := range []string{"/", "/modules.dep", "/kernel/fs/ext4/ext4.ko", "/lost+found"} {
		stat := debugfs(t, img, "stat "+p)
		for _, field := range []string{"ctime", "atime", "mtime", "crtime"} {
			if !regexp.MustCompile(`(?m)^\s*` + field + `: ` + stamp).MatchString(stat) {
				t.Errorf("%s: %s is not %s:\n%s", p, field, stamp, stat)
			}
		}
		if !regexp.MustCompile(`User:\s+0\s+Group:\s+0\s`).MatchString(stat) {
			t.Errorf("%s is not owned by root:\n%s", p, stat)
		}
	}
}

// An inode whose checksum does not match its bytes is reported, not rewritten as if valid.
func TestPinInodesRefusesADamagedInode(t *testing.T) {
	testtool.Need(t, "mke2fs")
	img := filepath.Join(t.TempDir(), "modules.img")
	if _, err := makeImage(context.Background(), runner.Exec{}, modulesTree(t, t.TempDir()), img, "modules", when); err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`located at block (\d+), offset 0x([0-9a-f]+)`).FindStringSubmatch(debugfs(t, img, "imap <12>"))
	if m == nil {
		t.Fatal("debugfs imap: no location for inode 12")
	}
	block, _ := strconv.ParseInt(m[1], 10, 64)
	off, _ := strconv.ParseInt(m[2], 16, 64)
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	l, err := readExt4Layout(f, img)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{0xff}, block*l.blockSize+off+0x64); err != nil { // its generation
		t.Fatal(err)
	}
	f.Close()
	if err := pinInodes(img, when); err == nil || !strings.Contains(err.Error(), "inode 12:") || !strings.Contains(err.Error(), img) {
		t.Errorf("pinInodes(damaged inode 12) = %v, want an error naming the image and inode 12", err)
	}
}

// As root, with a loop device, the kernel mounts the file system the VHDX holds and reads the
// modules back. (The nbd module is not here, so the VHDX itself cannot be attached with
// qemu-nbd: qemu-img converts it back to raw first.)
func TestModulesVHDXMountsAsExt4(t *testing.T) {
	testtool.Need(t, "mke2fs", "qemu-img", "mount", "umount")
	if os.Geteuid() != 0 {
		t.Skip("mounting a loop device needs root")
	}
	mod := modulesTree(t, t.TempDir())
	vhdx := filepath.Join(t.TempDir(), "modules.vhdx")
	if _, err := Make(context.Background(), runner.Exec{}, mod, vhdx, when); err != nil {
		t.Fatal(err)
	}
	raw, dir := filepath.Join(t.TempDir(), "modules.img"), t.TempDir()
	if out, err := exec.Command("qemu-img", "convert", "-f", "vhdx", "-O", "raw", vhdx, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	if out, err := exec.Command("mount", "-o", "loop,ro", "-t", "ext4", raw, dir).CombinedOutput(); err != nil {
		t.Fatalf("mount -o loop,ro: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v\n%s", dir, err, out)
		}
	})
	for _, name := range []string{"modules.dep", "kernel/fs/ext4/ext4.ko"} {
		got, want := readFile(t, filepath.Join(dir, name)), readFile(t, filepath.Join(mod, name))
		if string(got) != string(want) {
			t.Errorf("%s reads back as %d bytes, want the %d written", name, len(got), len(want))
		}
	}
}
