package moddisk

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/tooltest"
)

// Make gives a VHDX that qemu-img recognises, holding an ext4 file system that debugfs reads
// back with our files and without the build and source links.
func TestMakeWritesAReadableVHDX(t *testing.T) {
	tooltest.Need(t, "qemu-img", "mke2fs", "debugfs")
	mod := filepath.Join(t.TempDir(), "lib/modules/6.12.118.1-microsoft-standard-WSL2")
	os.MkdirAll(filepath.Join(mod, "kernel/lib"), 0o755)
	os.WriteFile(filepath.Join(mod, "kernel/lib/crc-itu-t.ko"), []byte("\x7fELF module"), 0o644)
	os.WriteFile(filepath.Join(mod, "modules.dep"), []byte("kernel/lib/crc-itu-t.ko:\n"), 0o644)
	os.Symlink("/home/me/linux", filepath.Join(mod, "build"))
	os.Symlink("/home/me/linux", filepath.Join(mod, "source"))
	dest := filepath.Join(t.TempDir(), "modules.vhdx")
	n, err := Make(context.Background(), kbuild.Exec{}, mod, dest, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("%d modules, want 1", n)
	}
	info, err := exec.Command("qemu-img", "info", dest).Output()
	if err != nil || !strings.Contains(string(info), "file format: vhdx") {
		t.Fatalf("qemu-img info: %v\n%s", err, info)
	}
	raw := filepath.Join(t.TempDir(), "modules.img")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", dest, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	ls, err := exec.Command(sbin("debugfs"), "-R", "ls -p /", raw).Output()
	if err != nil {
		t.Fatalf("debugfs: %v", err)
	}
	if !strings.Contains(string(ls), "/modules.dep/") || !strings.Contains(string(ls), "/kernel/") || strings.Contains(string(ls), "/build/") || strings.Contains(string(ls), "/source/") {
		t.Errorf("the image's root:\n%s", ls)
	}
	cat, _ := exec.Command(sbin("debugfs"), "-R", "cat /kernel/lib/crc-itu-t.ko", raw).Output()
	if string(cat) != "\x7fELF module" {
		t.Errorf("the module reads back as %q", cat)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dest), ".moddisk-")); err == nil {
		t.Error("scratch left behind")
	}
}

func TestStandaloneListsModulesWithoutDependencies(t *testing.T) {
	dir := t.TempDir()
	dep := "kernel/lib/crc-itu-t.ko:\nkernel/fs/ext4/ext4.ko.xz: kernel/fs/jbd2/jbd2.ko.xz\nkernel/fs/jbd2/jbd2.ko.xz:\n"
	os.WriteFile(filepath.Join(dir, "modules.dep"), []byte(dep), 0o644)
	got, err := Standalone(dir)
	if err != nil || strings.Join(got, " ") != "crc_itu_t jbd2" {
		t.Errorf("Standalone = %q, %v; want crc_itu_t jbd2", got, err)
	}
	if _, err := Standalone(t.TempDir()); err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Errorf("Standalone(no modules.dep) = %v", err)
	}
}

func TestModuleName(t *testing.T) {
	for file, want := range map[string]string{"kernel/lib/crc-itu-t.ko": "crc_itu_t", "kernel/fs/jbd2/jbd2.ko.xz": "jbd2", "extra/my-mod.ko.zst": "my_mod"} {
		if got := ModuleName(file); got != want {
			t.Errorf("ModuleName(%s) = %s, want %s", file, got, want)
		}
	}
}
