package moddisk

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

const release = "6.12.118.1-microsoft-standard-WSL2"

// artifactsTree lays out root/<release>/{modules,linux-headers} as the modules stage does: a
// modules_install folder (with the build and source links it leaves) and the files
// install-extmod-build copies, headers naming rel as their release. It returns root.
func artifactsTree(t *testing.T, rel string) string {
	t.Helper()
	root := t.TempDir()
	modules, headers := ArtifactsFolders(root, release)
	if err := os.MkdirAll(filepath.Dir(modules), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(modulesTree(t, t.TempDir()), modules); err != nil {
		t.Fatal(err)
	}
	for _, link := range []string{"build", "source"} {
		if err := os.Symlink("/home/me/linux", filepath.Join(modules, link)); err != nil {
			t.Fatal(err)
		}
	}
	for name, body := range map[string]string{
		"Makefile":                      "VERSION = 6\n",
		".config":                       "CONFIG_MODULES=y\n",
		"Module.symvers":                "0x12345678\tprintk\tvmlinux\tEXPORT_SYMBOL\t\n",
		"include/config/kernel.release": rel + "\n",
		"include/linux/module.h":        "#define THIS_MODULE\n",
		"arch/x86/include/asm/page.h":   "#define PAGE_SIZE 4096\n",
		"scripts/basic/fixdep":          "\x7fELF fixdep",
		"scripts/mod/modpost":           "\x7fELF modpost",
		"tools/objtool/objtool":         "\x7fELF objtool",
	} {
		p := filepath.Join(headers, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(body, "\x7fELF") {
			mode = 0o755
		}
		if err := os.WriteFile(p, []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink("page.h", filepath.Join(headers, "arch/x86/include/asm/page_64.h")); err != nil {
		t.Fatal(err)
	}
	return root
}

// debugfsOut runs debugfs's request on the image at img.
func debugfsOut(t *testing.T, img, request string) string {
	t.Helper()
	debugfs := testtool.Need(t, "debugfs")[0]
	out, err := exec.Command(debugfs, "-R", request, img).Output()
	if err != nil {
		t.Fatalf("debugfs -R %q: %v", request, err)
	}
	return string(out)
}

// Two trees of the same files, made at different times, give byte-identical artifacts.vhd: a
// fixed VHD qemu-img reads as one, of the image's size, holding an ext4 file system e2fsck
// passes, laid out as WSL mounts it: <release>/modules with modules.dep and a build link to
// where the headers are mounted (the build machine's links gone), <release>/linux-headers with
// the headers, their executables and links kept.
func TestMakeArtifactsLaysOutTheDiskWSLMounts(t *testing.T) {
	tools := testtool.Need(t, "mke2fs", "e2fsck", "qemu-img", "debugfs")
	var made [2]string
	for i := range made {
		root := artifactsTree(t, release)
		made[i] = filepath.Join(t.TempDir(), ArtifactsName)
		n, err := MakeArtifacts(context.Background(), runner.Exec{}, root, release, made[i], when)
		if err != nil || n != 4 {
			t.Fatalf("MakeArtifacts = %d, %v; want 4 modules", n, err)
		}
		if i == 0 {
			// mke2fs copies ctimes, which only the clock sets: let it pass a second so the second
			// tree's differ (the variation under test, not a guess at a race).
			for time.Now().Unix() <= ctimeOf(t, filepath.Join(root, release, "linux-headers/Makefile")) {
				time.Sleep(20 * time.Millisecond)
			}
		}
	}
	vhd := readFile(t, made[0])
	if !bytes.Equal(vhd, readFile(t, made[1])) {
		t.Fatal("two artifacts disks of the same files differ")
	}
	// A fixed VHD has no header to probe (its footer is at the end): name the format, as Windows
	// goes by the extension.
	info, err := exec.Command("qemu-img", "info", "-f", "vpc", "--output=json", made[0]).Output()
	if err != nil {
		t.Fatalf("qemu-img info: %v", err)
	}
	var got struct {
		Format      string `json:"format"`
		VirtualSize int64  `json:"virtual-size"`
	}
	if err := json.Unmarshal(info, &got); err != nil {
		t.Fatal(err)
	}
	if got.Format != "vpc" || got.VirtualSize != int64(len(vhd)-512) {
		t.Errorf("qemu-img info: format %s, virtual size %d; want vpc (VHD), %d", got.Format, got.VirtualSize, len(vhd)-512)
	}
	raw := filepath.Join(t.TempDir(), "artifacts.img")
	if out, err := exec.Command("qemu-img", "convert", "-f", "vpc", "-O", "raw", made[0], raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	if out, err := exec.Command(tools[1], "-fn", raw).CombinedOutput(); err != nil {
		t.Errorf("e2fsck -fn: %v\n%s", err, out)
	}
	root := debugfsOut(t, raw, "ls -p /")
	if !strings.Contains(root, "/"+release+"/") {
		t.Errorf("the root:\n%s", root)
	}
	mods := debugfsOut(t, raw, "ls -p /"+release+"/modules")
	if !strings.Contains(mods, "/modules.dep/") || strings.Contains(mods, "/source/") {
		t.Errorf("%s/modules:\n%s", release, mods)
	}
	if link := debugfsOut(t, raw, "stat /"+release+"/modules/build"); !strings.Contains(link, `Fast link dest: "/usr/src/linux-headers-`+release+`"`) {
		t.Errorf("modules/build:\n%s", link)
	}
	if got := debugfsOut(t, raw, "cat /"+release+"/linux-headers/include/config/kernel.release"); got != release+"\n" {
		t.Errorf("the headers' kernel.release reads %q", got)
	}
	if stat := debugfsOut(t, raw, "stat /"+release+"/linux-headers/scripts/basic/fixdep"); !strings.Contains(stat, "Mode:  0755") {
		t.Errorf("fixdep lost its execute bits:\n%s", stat)
	}
	if link := debugfsOut(t, raw, "stat /"+release+"/linux-headers/arch/x86/include/asm/page_64.h"); !strings.Contains(link, `Fast link dest: "page.h"`) {
		t.Errorf("the headers' link:\n%s", link)
	}
	if err := CheckArtifacts(context.Background(), runner.Exec{}, made[0], release); err != nil {
		t.Errorf("CheckArtifacts(a disk MakeArtifacts made) = %v", err)
	}
}

// A tree WSL would not mount is refused before any disk is written, with the reason.
func TestMakeArtifactsRefusesALayoutWSLWouldNotMount(t *testing.T) {
	testtool.Need(t, "mke2fs")
	for _, tc := range []struct {
		name  string
		spoil func(root string) error
		rel   string // the release asked for; default release
		want  string
	}{
		{"another release", nil, "6.12.118.2-microsoft-standard-WSL2", "no folder 6.12.118.2-microsoft-standard-WSL2 (uname -r) at the root (it holds: " + release + ")"},
		{"two releases", func(root string) error {
			return os.MkdirAll(filepath.Join(root, "6.6.87.2-microsoft-standard-WSL2/modules"), 0o755)
		}, "",
			"besides " + release + ", the root holds 6.6.87.2-microsoft-standard-WSL2"},
		{"no modules.dep", func(root string) error { return os.Remove(filepath.Join(root, release, "modules/modules.dep")) }, "",
			release + "/modules has no modules.dep"},
		{"no modules", func(root string) error { return os.RemoveAll(filepath.Join(root, release, "modules")) }, "",
			release + " has no modules folder (it holds: linux-headers)"},
		{"a stray folder", func(root string) error { return os.MkdirAll(filepath.Join(root, release, "firmware"), 0o755) }, "",
			release + " holds firmware, which WSL's layout has no place for"},
		{"headers of another kernel", func(root string) error {
			return os.WriteFile(filepath.Join(root, release, "linux-headers/include/config/kernel.release"), []byte("6.12.117.1-microsoft-standard-WSL2\n"), 0o644)
		}, "", "are the headers of 6.12.117.1-microsoft-standard-WSL2 (include/config/kernel.release), not of " + release},
		{"headers without Module.symvers", func(root string) error {
			return os.Remove(filepath.Join(root, release, "linux-headers/Module.symvers"))
		}, "",
			release + "/linux-headers has no Module.symvers"},
		{"a release that names no folder", nil, "../x", `the kernel release "../x" cannot name the disk's folder`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := artifactsTree(t, release)
			if tc.spoil != nil {
				if err := tc.spoil(root); err != nil {
					t.Fatal(err)
				}
			}
			rel := tc.rel
			if rel == "" {
				rel = release
			}
			dest := filepath.Join(t.TempDir(), ArtifactsName)
			_, err := MakeArtifacts(context.Background(), runner.Exec{}, root, rel, dest, when)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("MakeArtifacts = %v, want an error containing %q", err, tc.want)
			}
			if _, err := os.Stat(dest); err == nil {
				t.Error("a disk was written anyway")
			}
		})
	}
}

// CheckArtifacts reads a disk as WSL would mount it: a disk made for another kernel, or of
// another layout (the flat one), or no ext4 at all, is refused, naming what is wrong.
func TestCheckArtifactsRefusesADiskWSLWouldNotMount(t *testing.T) {
	testtool.Need(t, "mke2fs", "debugfs")
	ctx := context.Background()
	root := artifactsTree(t, release)
	good := filepath.Join(t.TempDir(), ArtifactsName)
	if _, err := MakeArtifacts(ctx, runner.Exec{}, root, release, good, when); err != nil {
		t.Fatal(err)
	}
	flat := filepath.Join(t.TempDir(), "modules.vhd")
	if _, err := MakeDisks(ctx, runner.Exec{}, modulesTree(t, t.TempDir()), Disks{VHD: flat}, when); err != nil {
		t.Fatal(err)
	}
	// A disk whose headers name another release: made by hand, past MakeArtifacts' own check.
	spoilt := artifactsTree(t, "6.12.117.1-microsoft-standard-WSL2")
	img := filepath.Join(t.TempDir(), "spoilt.img")
	if _, err := makeImage(ctx, runner.Exec{}, spoilt, img, "artifacts", when); err != nil {
		t.Fatal(err)
	}
	notExt4 := filepath.Join(t.TempDir(), "zeros.vhd")
	if err := os.WriteFile(notExt4, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ disk, rel, want string }{
		{good, "6.12.118.2-microsoft-standard-WSL2", "no folder 6.12.118.2-microsoft-standard-WSL2 (uname -r) at the root (it holds: " + release + ")"},
		{flat, release, "no folder " + release + " (uname -r) at the root (it holds: kernel, modules.dep)"},
		{img, release, "are the headers of 6.12.117.1-microsoft-standard-WSL2"},
		{notExt4, release, "holds no ext4 file system"},
	} {
		err := CheckArtifacts(ctx, runner.Exec{}, tc.disk, tc.rel)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.disk) {
			t.Errorf("CheckArtifacts(%s, %s) = %v, want an error naming the disk and containing %q", filepath.Base(tc.disk), tc.rel, err, tc.want)
		}
	}
}
