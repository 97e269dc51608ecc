//go:build e2e

package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// sharedSource is the source tree the shared run built from: the build tree's source link.
func sharedSource(t *testing.T) string {
	t.Helper()
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	src, err := filepath.EvalSymlinks(filepath.Join(workDir, "build/smoke/x86_64/source"))
	if err != nil {
		t.Fatal(err)
	}
	return src
}

// sharedMirror is the mirror of the local kernel.org that the shared run used.
func sharedMirror(t *testing.T) string {
	t.Helper()
	mirrors, _ := filepath.Glob(filepath.Join(cacheDir, "mirrors", "*.git"))
	for _, m := range mirrors {
		if exec.Command("git", "--git-dir", m, "cat-file", "-e", manifestRun.BranchHead).Run() == nil {
			return m
		}
	}
	t.Fatalf("no mirror under %s holds the branch head %s", cacheDir, manifestRun.BranchHead)
	return ""
}

func gitOut(t *testing.T, gitDir string, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", append([]string{"--git-dir", gitDir}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// The release branch on the real tree: the tag, the series as commits with their authors and
// messages, and the in-tree defconfig commit last; the source tree that was built is exactly the
// branch's last commit, as git sees it.
func TestBranchIsTheTagThenThePatchesThenTheDefconfig(t *testing.T) {
	src := sharedSource(t)
	mirror := sharedMirror(t)
	head := manifestRun.BranchHead
	if got := strings.TrimSpace(gitOut(t, mirror, "rev-parse", manifestRun.BranchRef)); got != head {
		t.Errorf("%s is %s, the manifest says %s", manifestRun.BranchRef, got, head)
	}
	log := gitOut(t, mirror, "log", "--format=%an <%ae>|%s", "v6.12.118.."+head)
	want := "wslkernel kbuild <kbuild@wslkernel.invalid>|Add wsl_defconfig, the config this release is built with\n"
	for i := len(manifestRun.Patches) - 1; i >= 0; i-- {
		want += manifestRun.Patches[i].Author + "|" + manifestRun.Patches[i].Subject + "\n"
	}
	if log != want {
		t.Errorf("git log v6.12.118..branch:\n%s\nwant:\n%s", log, want)
	}
	if fsck := gitOut(t, mirror, "fsck", "--no-dangling", "--connectivity-only", head); strings.Contains(fsck, "missing") || strings.Contains(fsck, "error") {
		t.Errorf("git fsck: %s", fsck)
	}
	if got := diffAgainst(t, mirror, src, head); got != "" {
		t.Errorf("git status of the built source tree against the branch head:\n%s", got)
	}
	if info, err := os.Stat(filepath.Join(src, "Microsoft/scripts/gen_modules_vhdx.sh")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("the modules.vhdx script from the second patch: %v %v", info, err)
	}
}

// make wsl_defconfig on the published source gives exactly the config that was built: the
// in-tree file cannot drift from configs/.
func TestWslDefconfigGivesTheBuiltConfig(t *testing.T) {
	src := sharedSource(t)
	out := t.TempDir()
	// EXTRAVERSION as kbuild builds it: the .config's header line names the version; RUSTC as
	// kbuild builds it: the suite's PATH has a rustc (setup), whose version Kconfig would write.
	cmd := exec.Command("make", "-s", "-C", src, "O="+out, "ARCH=x86_64", "EXTRAVERSION=.1", "RUSTC=false", "wsl_defconfig")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make wsl_defconfig: %v\n%s", err, b)
	}
	got, _ := os.ReadFile(filepath.Join(out, ".config"))
	built, err := os.ReadFile(filepath.Join(filepath.Dir(manifestAt), "x86_64/config"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, built) {
		t.Errorf("make wsl_defconfig gives a different .config than the one built (%d vs %d bytes)", len(got), len(built))
	}
}

// diffAgainst lists how a plain folder differs from a commit, as git sees it through a scratch
// index: changed, deleted or mode-changed files (diff-files), then files the commit lacks.
func diffAgainst(t *testing.T, gitDir, src, rev string) string {
	t.Helper()
	env := scratchIndexEnv(t, gitDir, src)
	var all strings.Builder
	for i, args := range [][]string{{"read-tree", rev}, {"update-index", "-q", "--refresh"}, {"diff-files", "--name-status"}, {"ls-files", "--others", "--directory"}} {
		cmd := exec.Command("git", args...)
		cmd.Dir, cmd.Env = src, env
		out, err := cmd.CombinedOutput()
		if i == 1 {
			continue // it exits 1 when files differ; diff-files says which
		}
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		if i > 1 {
			all.Write(out)
		}
	}
	return all.String()
}

// The smoke kernel's modules reach modules.vhdx as WSL mounts it: a VHDX (qemu-img says so)
// whose ext4 root is lib/modules/<release> without the build and source links, holding the
// profile's module, built for this very kernel (its vermagic names the release).
func TestModulesVHDXHoldsTheModules(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	vhdx := filepath.Join(filepath.Dir(manifestAt), "x86_64/modules.vhdx")
	found := false
	for _, o := range manifestRun.Outputs {
		found = found || o.Name == "modules" && o.Path == "x86_64/modules.vhdx"
	}
	if !found {
		t.Errorf("the manifest lists no modules output: %+v", manifestRun.Outputs)
	}
	info, err := exec.Command("qemu-img", "info", vhdx).Output()
	if err != nil || !strings.Contains(string(info), "file format: vhdx") {
		t.Fatalf("qemu-img info %s: %v\n%s", vhdx, err, info)
	}
	raw := filepath.Join(t.TempDir(), "modules.img")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", vhdx, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	debugfs := func(req string) string {
		out, err := exec.Command("/sbin/debugfs", "-R", req, raw).Output()
		if err != nil {
			t.Fatalf("debugfs -R %q: %v", req, err)
		}
		return string(out)
	}
	root := debugfs("ls -p /")
	for _, want := range []string{"/modules.dep/", "/modules.order/", "/kernel/"} {
		if !strings.Contains(root, want) {
			t.Errorf("the image's root lacks %s:\n%s", want, root)
		}
	}
	if strings.Contains(root, "/build/") || strings.Contains(root, "/source/") {
		t.Errorf("the build or source link is in the image:\n%s", root)
	}
	ko := filepath.Join(t.TempDir(), "crc-itu-t.ko")
	os.WriteFile(ko, []byte(debugfs("cat /kernel/lib/crc-itu-t.ko")), 0o644)
	vermagic, err := exec.Command("/sbin/modinfo", "-F", "vermagic", ko).Output()
	if err != nil || !strings.HasPrefix(string(vermagic), wantRelease+" ") {
		t.Errorf("modinfo vermagic of the module: %q, %v", vermagic, err)
	}
}

// modules.vhd, the NuGet package's form, is a fixed VHD of the same ext4 image as modules.vhdx:
// qemu-img reads it as vpc and checks the VHDX; the VHD mounts (a fixed VHD is the image and a footer) and
// holds the very module the VHDX holds.
func TestModulesVHDMountsWithTheSameModules(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	dir := filepath.Join(filepath.Dir(manifestAt), "x86_64")
	vhd, vhdx := filepath.Join(dir, "modules.vhd"), filepath.Join(dir, "modules.vhdx")
	if info, err := exec.Command("qemu-img", "info", "-f", "vpc", vhd).CombinedOutput(); err != nil || !strings.Contains(string(info), "file format: vpc") {
		t.Fatalf("qemu-img info %s: %v\n%s", vhd, err, info)
	}
	// (qemu-img has no check for vpc images: it says so and exits 63.)
	if out, err := exec.Command("qemu-img", "check", "-f", "vhdx", vhdx).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check %s: %v\n%s", vhdx, err, out)
	}
	raw := filepath.Join(t.TempDir(), "from-vhdx.img")
	if out, err := exec.Command("qemu-img", "convert", "-O", "raw", vhdx, raw).CombinedOutput(); err != nil {
		t.Fatalf("qemu-img convert: %v\n%s", err, out)
	}
	image, _ := os.ReadFile(raw)
	disk, _ := os.ReadFile(vhd)
	if len(disk) != len(image)+512 || !bytes.Equal(disk[:len(image)], image) {
		t.Fatalf("modules.vhd (%d bytes) is not modules.vhdx's image (%d bytes) and a 512-byte footer", len(disk), len(image))
	}
	mnt := t.TempDir()
	if out, err := exec.Command("mount", "-t", "ext4", "-o", fmt.Sprintf("loop,ro,sizelimit=%d", len(image)), vhd, mnt).CombinedOutput(); err != nil {
		t.Fatalf("mount %s: %v\n%s", vhd, err, out)
	}
	defer exec.Command("umount", mnt).Run()
	vermagic, err := exec.Command("/sbin/modinfo", "-F", "vermagic", filepath.Join(mnt, "kernel/lib/crc-itu-t.ko")).Output()
	if err != nil || !strings.HasPrefix(string(vermagic), wantRelease+" ") {
		t.Errorf("modinfo vermagic of the module in the mounted modules.vhd: %q, %v", vermagic, err)
	}
}
