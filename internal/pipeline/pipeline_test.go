package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/boot"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// fakeKbuild stands in for make and qemu on a fake kernel tree; go runs for real.
// make: tinyconfig writes a small .config; olddefconfig drops NEEDS_DEP unless DEP is set, as
// Kconfig does for an unmet "depends on"; bzImage writes an image holding the kernel release.
// qemu prints what the smoke init would, with the release read from that image.
type fakeKbuild struct {
	runner.Exec            // go, and the filters (xz), run for real
	mu          sync.Mutex // arches may build in parallel
	makes       []string
	lines       []string // every make command line
	leakDir     bool     // bzImage also holds its build directory, as a build without -ffile-prefix-map would
	fail        string   // a make target that fails, as a compile error would
}

var outArg = regexp.MustCompile(`^O=(.*)$`)

func (f *fakeKbuild) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	switch name {
	case "make":
		var o, extra, src string
		for i, a := range args {
			if m := outArg.FindStringSubmatch(a); m != nil {
				o = m[1]
			}
			if a == "-C" {
				src = args[i+1]
			}
			if v, ok := strings.CutPrefix(a, "EXTRAVERSION="); ok {
				extra = v
			}
		}
		target := args[len(args)-1]
		f.mu.Lock()
		f.makes = append(f.makes, target)
		f.lines = append(f.lines, strings.Join(args, " "))
		f.mu.Unlock()
		if target == f.fail {
			fmt.Fprintf(out, "kernel/fork.c:1:1: error: expected declaration\n")
			return errors.New("exit status 2")
		}
		dotconfig := filepath.Join(o, ".config")
		switch target {
		case "tinyconfig":
			return os.WriteFile(dotconfig, []byte("CONFIG_64BIT=y\n# CONFIG_PRINTK is not set\n"), 0o644)
		case "olddefconfig":
			data, _ := os.ReadFile(dotconfig)
			s := string(data)
			if !strings.Contains(s, "CONFIG_DEP=y\n") {
				s = strings.ReplaceAll(s, "CONFIG_NEEDS_DEP=y\n", "# CONFIG_NEEDS_DEP is not set\n")
			}
			return os.WriteFile(dotconfig, []byte(s), 0o644)
		case "savedefconfig":
			data, _ := os.ReadFile(dotconfig)
			var min []string
			for _, line := range strings.SplitAfter(string(data), "\n") {
				if strings.HasSuffix(line, "=y\n") || strings.HasPrefix(line, "CONFIG_LOCALVERSION=") {
					min = append(min, line)
				}
			}
			return os.WriteFile(filepath.Join(o, "defconfig"), []byte(strings.Join(min, "")), 0o644)
		case "bzImage", "Image":
			data, _ := os.ReadFile(dotconfig)
			local := regexp.MustCompile(`CONFIG_LOCALVERSION="(.*)"`).FindStringSubmatch(string(data))[1]
			mk, _ := os.ReadFile(filepath.Join(src, "Makefile"))
			sublevel := regexp.MustCompile(`SUBLEVEL = (\d+)`).FindStringSubmatch(string(mk))[1]
			release := "6.12." + sublevel + extra + local
			os.MkdirAll(filepath.Join(o, "include/config"), 0o755)
			os.WriteFile(filepath.Join(o, "include/config/kernel.release"), []byte(release+"\n"), 0o644)
			image := target + " " + release
			if f.leakDir {
				image += "\x00built in " + o
			}
			path := filepath.Join(o, "arch/x86/boot/bzImage")
			if target == "Image" {
				path = filepath.Join(o, "arch/arm64/boot/Image")
			}
			os.MkdirAll(filepath.Dir(path), 0o755)
			return os.WriteFile(path, []byte(image), 0o644)
		case "headers_install":
			dest := strings.TrimPrefix(args[len(args)-2], "INSTALL_HDR_PATH=")
			os.MkdirAll(filepath.Join(dest, "include/linux"), 0o755)
			return os.WriteFile(filepath.Join(dest, "include/linux/version.h"), []byte("#define LINUX_VERSION_CODE 396406\n"), 0o644)
		case "modules":
			return nil
		case "modules_install": // one module that needs no other, and the links modules_install leaves
			release, _ := os.ReadFile(filepath.Join(o, "include/config/kernel.release"))
			root := strings.TrimPrefix(args[len(args)-3], "INSTALL_MOD_PATH=")
			dir := filepath.Join(root, "lib/modules", strings.TrimSpace(string(release)))
			os.MkdirAll(filepath.Join(dir, "kernel/lib"), 0o755)
			os.Symlink(src, filepath.Join(dir, "build"))
			os.WriteFile(filepath.Join(dir, "kernel/lib/crc-itu-t.ko"), []byte("\x7fELF crc-itu-t"), 0o644)
			return os.WriteFile(filepath.Join(dir, "modules.dep"), []byte("kernel/lib/crc-itu-t.ko:\n"), 0o644)
		}
		if command, ok := strings.CutPrefix(target, "KBUILD_RUN_COMMAND="); ok && args[len(args)-2] == "run-command" {
			// install-extmod-build <dest>: what an out-of-tree build reads first (not .config,
			// which the script leaves to its callers).
			script, dest, _ := strings.Cut(command, " ")
			if script != "${srctree}/scripts/package/install-extmod-build" {
				return fmt.Errorf("fake make: run-command %s", command)
			}
			release, _ := os.ReadFile(filepath.Join(o, "include/config/kernel.release"))
			for name, body := range map[string][]byte{"Makefile": []byte("VERSION = 6\n"), "Module.symvers": nil, "include/config/kernel.release": release, "scripts/basic/fixdep": []byte("#!/bin/sh\n")} {
				os.MkdirAll(filepath.Dir(filepath.Join(dest, name)), 0o755)
				os.WriteFile(filepath.Join(dest, name), body, 0o755)
			}
			return nil
		}
		return fmt.Errorf("fake make: unexpected target %s", target)
	case "qemu-system-x86_64", "qemu-system-aarch64":
		kernel := args[slices.Index(args, "-kernel")+1]
		data, _ := os.ReadFile(kernel)
		_, release, _ := strings.Cut(string(data), " ")
		release, _, _ = strings.Cut(release, "\x00")
		fmt.Fprintf(out, "[    0.400000] Run /init as init process\n%s release=%s machine=x86_64\n", boot.Marker, release)
		if m := regexp.MustCompile(boot.EnvModule + `=(\S+)`).FindStringSubmatch(args[slices.Index(args, "-append")+1]); m != nil {
			fmt.Fprintf(out, "%s module=%s loaded from /lib/modules/%s\n", boot.Marker, m[1], release)
		}
		return errors.New("exit status 0 after panic")
	}
	return f.Exec.Run(ctx, name, args, env, out)
}

// upstreamFixture makes a local kernel.org: a repo with a signed v6.12.118, its key, releases.json.
func upstreamFixture(t *testing.T) string {
	dir, _ := upstreamFixtureKey(t)
	return dir
}

func upstreamFixtureKey(t *testing.T) (string, *openpgp.Entity) {
	t.Helper()
	return upstreamFixtureLinks(t, nil)
}

// upstreamFixtureLinks is upstreamFixtureKey whose tree also holds symlinks (name → target).
func upstreamFixtureLinks(t *testing.T, links map[string]string) (string, *openpgp.Entity) {
	t.Helper()
	dir := t.TempDir()
	key, err := openpgp.NewEntity("stable", "", "stable@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var ring bytes.Buffer
	w, _ := armor.Encode(&ring, openpgp.PublicKeyType, nil)
	key.Serialize(w)
	w.Close()
	os.WriteFile(filepath.Join(dir, "keys.asc"), ring.Bytes(), 0o644)

	repo, err := git.PlainInit(filepath.Join(dir, "linux"), false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	for name, body := range map[string]string{"Makefile": makefileOf(118), "init/main.c": "int main;\n", "scripts/run.sh": "#!/bin/sh\n"} {
		path := filepath.Join(dir, "linux", name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		mode := os.FileMode(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		os.WriteFile(path, []byte(body), mode)
		wt.Add(name)
	}
	os.Symlink("init/main.c", filepath.Join(dir, "linux", "link"))
	wt.Add("link")
	for name, target := range links {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, "linux", name)), 0o755)
		os.Symlink(target, filepath.Join(dir, "linux", name))
		wt.Add(name)
	}
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161, 0)}
	commit, err := wt.Commit("Linux 6.12.118", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v6.12.118", commit, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.118", SignKey: key}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "releases.json"), []byte(`{"releases":[
		{"iseol":false,"version":"6.12.118","moniker":"longterm"},
		{"iseol":false,"version":"6.19-rc1","moniker":"mainline"}]}`), 0o644)
	return dir, key
}

// makefileOf is the fixture tree's top Makefile for 6.12.<sublevel>: what fetch reads the release from.
func makefileOf(sublevel int) string {
	return fmt.Sprintf("SUBLEVEL = %d\nVERSION = 6\nPATCHLEVEL = 12\n", sublevel)
}

// line writes a pipeline.yaml for the fixture and loads its profile.
func line(t *testing.T, korg string, files map[string]string) *config.Line {
	return lineWith(t, korg, "", files)
}

func lineWith(t *testing.T, korg, upstreamExtra string, files map[string]string) *config.Line {
	t.Helper()
	dir := t.TempDir()
	smokeinit, _ := filepath.Abs("../../cmd/smokeinit")
	files["pipeline.yaml"] = fmt.Sprintf(`name: test
series: "6.12"
upstream: {releases: %[1]s/releases.json, git: %[1]s/linux, keyring: %[1]s/keys.asc%[3]s}
version: {localversion: -microsoft-standard-WSL2, branch: "wsl-{series}.y", tag: "wsl-{version}"}
profiles:
  smoke:
    arches: [x86_64]
    config: {base: tinyconfig, fragments: [frag.config]}
    patches: series
    initrd:
      spec: initrd.list
      programs: {SMOKE_INIT: %[2]s}
`, korg, smokeinit, upstreamExtra)
	files["initrd.list"] = "dir /dev 0755 0 0\nnod /dev/console 0600 0 0 c 5 1\nfile /init ${SMOKE_INIT} 0755 0 0\n"
	for name, body := range files {
		os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	p, err := Load(filepath.Join(dir, "pipeline.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Select("smoke")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

const addNotes = `From 2222222222222222222222222222222222222222 Mon Sep 17 00:00:00 2001
From: Ada <ada@example.invalid>
Date: Fri, 20 Nov 2026 11:00:00 +0000
Subject: [PATCH] Microsoft: add notes

---
diff --git a/Microsoft/NOTES b/Microsoft/NOTES
new file mode 100644
--- /dev/null
+++ b/Microsoft/NOTES
@@ -0,0 +1 @@
+notes
`

func runLine(t *testing.T, l *config.Line, work string) (string, *manifest.Manifest, *fakeKbuild, error) {
	t.Helper()
	fake := &fakeKbuild{}
	return runLineWith(t, l, Options{WorkDir: work, Runner: fake}, fake)
}

// runLineWith runs the line with opts (the cache under the work dir, output discarded).
func runLineWith(t *testing.T, l *config.Line, opts Options, fake *fakeKbuild) (string, *manifest.Manifest, *fakeKbuild, error) {
	t.Helper()
	opts.CacheDir = filepath.Join(opts.WorkDir, "cache")
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	path, runErr := Run(context.Background(), plan, opts)
	m, err := manifest.Read(path)
	if err != nil {
		t.Fatalf("no manifest after the run (%v): %v", runErr, err)
	}
	return path, m, fake, runErr
}

func TestRunOnAFakeTree(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	work := t.TempDir()
	path, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	if m.Status != "ok" || m.KernelRelease != "6.12.118.1-microsoft-standard-WSL2" || m.Tag != "wsl-6.12.118.1" || m.Upstream.Signer == "" {
		t.Errorf("manifest = %+v", m)
	}
	if len(m.Patches) != 1 || m.Patches[0].Subject != "Microsoft: add notes" || m.Patches[0].Author != "Ada <ada@example.invalid>" {
		t.Errorf("patches = %+v", m.Patches)
	}
	src := filepath.Join(work, "src")
	trees, _ := filepath.Glob(filepath.Join(src, "*", "Microsoft", "NOTES"))
	if len(trees) != 1 {
		t.Fatalf("patched tree: %v", trees)
	}
	tree := filepath.Dir(filepath.Dir(trees[0]))
	if info, err := os.Stat(filepath.Join(tree, "scripts/run.sh")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("executable bit lost in the export: %v %v", info, err)
	}
	if target, err := os.Readlink(filepath.Join(tree, "link")); err != nil || target != "init/main.c" {
		t.Errorf("symlink = %q, %v", target, err)
	}
	cfg, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "x86_64/config"))
	if !bytes.Contains(cfg, []byte("CONFIG_PRINTK=y\n")) || !bytes.Contains(cfg, []byte(`CONFIG_LOCALVERSION="-microsoft-standard-WSL2"`)) {
		t.Errorf("config = %s", cfg)
	}
	if len(m.Boots) != 1 || m.Boots[0].InitSeconds != 0.4 {
		t.Errorf("boots = %+v", m.Boots)
	}
	// The branch: the patch as a commit on the tag, then the defconfig commit, in the mirror;
	// the source tree holds the same defconfig.
	defconfig, err := os.ReadFile(filepath.Join(tree, "arch/x86/configs/wsl_defconfig"))
	if err != nil || !bytes.Contains(defconfig, []byte("CONFIG_PRINTK=y\n")) {
		t.Errorf("wsl_defconfig in the tree: %q, %v", defconfig, err)
	}
	mirrors, _ := filepath.Glob(filepath.Join(work, "cache", "mirrors", "*.git"))
	repo, err := git.PlainOpen(mirrors[0])
	if err != nil {
		t.Fatal(err)
	}
	ref, err := repo.Reference(plumbing.ReferenceName(m.BranchRef), true)
	if err != nil || ref.Hash().String() != m.BranchHead || m.BranchRef != "refs/wslkernel/smoke/heads/wsl-6.12.y" {
		t.Fatalf("branch ref %s = %v, %v; manifest says %s", m.BranchRef, ref, err, m.BranchHead)
	}
	top, _ := repo.CommitObject(ref.Hash())
	if f, err := top.File("arch/x86/configs/wsl_defconfig"); err != nil || top.NumParents() != 1 {
		t.Errorf("defconfig commit: %v %v", f, err)
	} else if got, _ := f.Contents(); got != string(defconfig) {
		t.Errorf("committed defconfig %q, tree's %q", got, defconfig)
	}
	patched, _ := top.Parent(0)
	if patched.Author.Name != "Ada" || patched.Message != "Microsoft: add notes\n" || patched.ParentHashes[0].String() != m.Upstream.Commit {
		t.Errorf("patch commit: %+v", patched)
	}

	// A second run with nothing changed checks upstream again and skips every other stage,
	// carrying the first run's outputs and results.
	_, m2, fake2, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("second Run = %v", err)
	}
	if got := stageStatuses(m2); got != "fetch:ok patch:skipped configure/x86_64:skipped branch:skipped build/x86_64:skipped initrd/x86_64:skipped boot/x86_64:skipped" {
		t.Errorf("second run's stages: %s", got)
	}
	if len(fake2.makes) != 0 {
		t.Errorf("second run ran make %v", fake2.makes)
	}
	if len(m2.Outputs) != len(m.Outputs) || len(m2.Boots) != 1 || len(m2.Builds) != 1 || m2.BranchHead != m.BranchHead {
		t.Errorf("second run's record: outputs %d (want %d), boots %v, builds %v, branch %s (want %s)",
			len(m2.Outputs), len(m.Outputs), m2.Boots, m2.Builds, m2.BranchHead, m.BranchHead)
	}
	for i := range m.Outputs {
		if m.Outputs[i].SHA256 != m2.Outputs[i].SHA256 {
			t.Errorf("output %s differs between two runs", m.Outputs[i].Path)
		}
	}
}

// stageStatuses lists a manifest's stages as name[/arch]:status.
func stageStatuses(m *manifest.Manifest) string {
	var parts []string
	for _, st := range m.Stages {
		name := st.Name
		if st.Arch != "" {
			name += "/" + st.Arch
		}
		parts = append(parts, name+":"+st.Status)
	}
	return strings.Join(parts, " ")
}

func TestDroppedOptionFailsConfigureNamingIt(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n# needs DEP\nCONFIG_NEEDS_DEP=y\n", "series": ""})
	_, m, fake, err := runLine(t, l, t.TempDir())
	want := "frag.config:3: CONFIG_NEEDS_DEP=y was requested, but the final .config has n"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Run = %v, want %q", err, want)
	}
	if m.Status != "failed" || !strings.Contains(m.Error, want) {
		t.Errorf("manifest status %q error %q", m.Status, m.Error)
	}
	if strings.Contains(strings.Join(fake.makes, " "), "bzImage") {
		t.Errorf("built after configure failed: %v", fake.makes)
	}
}

// Configure merges each fragment as it applies to the release's series (6.12 here): a line for
// other series is neither merged nor verified, the policy and the features' essential symbols
// are judged on 6.12, and a line for 6.12 is merged and verified like any other.
func TestConfigureAppliesTheReleasesSeries(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"series": "", "frag.config": `CONFIG_PRINTK=y
# series: -6.11
CONFIG_OLD=y
# series: 6.12-
CONFIG_NEW=m
# series: 7.2-
CONFIG_NEEDS_DEP=y
`, "wsl.policy": `arches: x86_64
CONFIG_PRINTK    y   always
# series: -6.11
CONFIG_OLD       y   gone from 6.12
# series: 7.2-
CONFIG_NEEDS_DEP y   only from 7.2
`})
	dir := l.Pipeline.Dir()
	os.MkdirAll(filepath.Join(dir, "configs/features"), 0o755)
	os.WriteFile(filepath.Join(dir, "configs/features/legacy.config"), []byte(`# feature: legacy tables
# users: iptables-legacy
# essential: NEW_FEAT OLD_FEAT
CONFIG_NEW_FEAT=m
# series: -6.11
CONFIG_OLD_FEAT=y
`), 0o644)
	set, err := l.Pipeline.Features()
	if err != nil {
		t.Fatal(err)
	}
	legacy, _ := set.Lookup("legacy")
	l.Profile.Config.AddFeatures(legacy)
	l.Profile.Config.Policy = filepath.Join(dir, "wsl.policy")
	path, m, _, err := runLine(t, l, t.TempDir())
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	cfg, _ := os.ReadFile(filepath.Join(filepath.Dir(path), "x86_64/config"))
	for _, want := range []string{"CONFIG_PRINTK=y\n", "CONFIG_NEW=m\n", "CONFIG_NEW_FEAT=m\n"} {
		if !bytes.Contains(cfg, []byte(want)) {
			t.Errorf("the 6.12 config lacks %q:\n%s", want, cfg)
		}
	}
	for _, unwanted := range []string{"CONFIG_OLD", "CONFIG_NEEDS_DEP", "CONFIG_OLD_FEAT"} {
		if bytes.Contains(cfg, []byte(unwanted)) {
			t.Errorf("the 6.12 config has %s, set for other series only:\n%s", unwanted, cfg)
		}
	}
	if st := m.Stages[slices.IndexFunc(m.Stages, func(st manifest.Stage) bool { return st.Name == "configure" })]; !strings.Contains(st.Detail, "policy wsl.policy holds, the essential symbols of 1 features are set") {
		t.Errorf("configure: %s", st.Detail)
	}

	// A line for 6.12 is merged and verified as any: its dropped value fails configure by name.
	l = line(t, korg, map[string]string{"series": "", "frag.config": "CONFIG_PRINTK=y\n# series: 6.12\nCONFIG_NEEDS_DEP=y\n"})
	_, _, _, err = runLine(t, l, t.TempDir())
	if want := "frag.config:3: CONFIG_NEEDS_DEP=y was requested, but the final .config has n"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Run = %v, want %q", err, want)
	}
}

// kbuild config explain reads the fragments as they apply to the configured tree's series, and
// names a line for other series rather than pass over it.
func TestWhoSetPerSeries(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"series": "", "frag.config": "CONFIG_NFS_V4=m\n# series: -7.1\nCONFIG_NFS_V4_1=y\n"})
	base, _ := kconfig.Parse(strings.NewReader("CONFIG_NFS_V4_1=n\n"), ".config")
	for _, tc := range []struct {
		series, want string
		lines        []string
	}{
		{"6.12", "y", []string{"  base tinyconfig: n", "  set by frag.config:3: y (for series -7.1)"}},
		{"7.2", "", []string{"  base tinyconfig: n", "  not applied: frag.config:3: y is for series -7.1, and this tree is 7.2"}},
	} {
		s, _ := version.ParseSeries(tc.series)
		lines, want, err := whoSet(l, "x86_64", "NFS_V4_1", base, s)
		if err != nil || want != tc.want || !slices.Equal(lines, tc.lines) {
			t.Errorf("whoSet on %s = %q, %q, %v; want %q, %q", tc.series, lines, want, err, tc.lines, tc.want)
		}
	}
}

func TestFailingPatchLeavesNoTreeToReuse(t *testing.T) {
	korg := upstreamFixture(t)
	bad := strings.Replace(addNotes, "new file mode 100644\n--- /dev/null\n+++ b/Microsoft/NOTES\n@@ -0,0 +1 @@\n+notes\n",
		"--- a/Makefile\n+++ b/Makefile\n@@ -1 +1 @@\n-SUBLEVEL = 117\n+SUBLEVEL = 119\n", 1)
	bad = strings.Replace(bad, "Microsoft/NOTES b/Microsoft/NOTES", "Makefile b/Makefile", 1)
	l := line(t, korg, map[string]string{"frag.config": "", "series": "0001-bad.patch\n", "0001-bad.patch": bad})
	work := t.TempDir()
	_, m, _, err := runLine(t, l, work)
	if err == nil || !strings.Contains(err.Error(), "patch 0001-bad.patch: Makefile: hunk 1") || !strings.Contains(err.Error(), "found:\n  SUBLEVEL = 118") {
		t.Fatalf("Run = %v", err)
	}
	if stamps, _ := filepath.Glob(filepath.Join(work, "src", "*.done")); len(stamps) != 0 {
		t.Errorf("a tree whose patch failed is stamped complete: %v", stamps)
	}
	if m.Status != "failed" {
		t.Errorf("manifest status %q", m.Status)
	}
}

func TestCheckComparesWithTheLastSuccessfulBuild(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "", "series": ""})
	work := t.TempDir()
	opts := Options{WorkDir: work}
	res, err := Check(context.Background(), l, opts)
	if err != nil || !res.Newer || res.LastBuilt != nil || res.Upstream.String() != "6.12.118" {
		t.Fatalf("Check before any build = %+v, %v", res, err)
	}
	if _, _, _, err := runLine(t, l, work); err != nil {
		t.Fatal(err)
	}
	res, err = Check(context.Background(), l, opts)
	if err != nil || res.Newer || res.LastBuilt.String() != "6.12.118" {
		t.Errorf("Check after building 6.12.118 = %+v, %v; want up to date", res, err)
	}
	var out bytes.Buffer
	res.Print(&out)
	if out.String() != "upstream 6.12.118; last build 6.12.118: up to date\n" {
		t.Errorf("Print = %q", out.String())
	}
	// A failed run of a newer release does not count as built.
	os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":false,"version":"6.12.119","moniker":"longterm"}]}`), 0o644)
	res, err = Check(context.Background(), l, opts)
	if err != nil || !res.Newer || res.Upstream.String() != "6.12.119" {
		t.Errorf("Check after upstream moved = %+v, %v", res, err)
	}
}

// A mirror whose pack was truncated (a killed run, a bad disk), or whose objects are gone while
// its refs remain, is detected, fetched again with a message saying so, and the run completes as
// a clean one would.
func TestDamagedMirrorIsRepaired(t *testing.T) {
	damages := map[string]func(pack string) error{
		"truncated pack": func(pack string) error {
			info, err := os.Stat(pack)
			if err != nil {
				return err
			}
			return os.Truncate(pack, info.Size()/2)
		},
		"missing objects": func(pack string) error {
			if err := os.Remove(strings.TrimSuffix(pack, ".pack") + ".idx"); err != nil {
				return err
			}
			return os.Remove(pack)
		},
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			korg := upstreamFixture(t)
			l := line(t, korg, map[string]string{"frag.config": "", "series": ""})
			work := t.TempDir()
			_, clean, _, err := runLine(t, l, work)
			if err != nil {
				t.Fatal(err)
			}
			packs, _ := filepath.Glob(filepath.Join(work, "cache/mirrors/*.git/objects/pack/*.pack"))
			if len(packs) != 1 {
				t.Fatalf("packs: %v", packs)
			}
			if err := damage(packs[0]); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: &out}
			plan, err := NewPlan(context.Background(), l, opts)
			if err != nil {
				t.Fatal(err)
			}
			path, err := Run(context.Background(), plan, opts)
			if err != nil {
				t.Fatalf("Run on a damaged mirror = %v\n%s", err, out.String())
			}
			if !strings.Contains(out.String(), "REPAIR             mirror damaged") || !strings.Contains(out.String(), "fetching v6.12.118 again") {
				t.Errorf("no repair message:\n%s", out.String())
			}
			repaired, _ := manifest.Read(path)
			for i := range clean.Outputs {
				if clean.Outputs[i].SHA256 != repaired.Outputs[i].SHA256 {
					t.Errorf("output %s differs from the clean run's: %+v vs %+v", clean.Outputs[i].Path, clean.Outputs[i], repaired.Outputs[i])
				}
			}
		})
	}
}

// source: tarball builds from kernel.org's signed tarball, and the next point release comes from
// the incremental patch on top of the unpacked previous one.
// tarballPublisher puts files where kernel.org has them under korg: xz-compressed, with a
// detached signature by key of the uncompressed bytes.
func tarballPublisher(t *testing.T, korg string, key *openpgp.Entity) (xzFile func(path string, data []byte), sign func(path string, data []byte)) {
	t.Helper()
	sign = func(path string, data []byte) {
		var sig bytes.Buffer
		if err := openpgp.ArmoredDetachSign(&sig, key, bytes.NewReader(data), nil); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(path, sig.Bytes(), 0o644)
	}
	xzFile = func(path string, data []byte) {
		testtool.Need(t, "xz")
		cmd := exec.Command("xz", "-c")
		cmd.Stdin = bytes.NewReader(data)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("xz -c: %v", err)
		}
		os.WriteFile(path, out, 0o644)
	}
	return xzFile, sign
}

// publishTarball makes the fixture's v6.12.118 a signed tarball on the local kernel.org.
func publishTarball(t *testing.T, korg string, key *openpgp.Entity) {
	t.Helper()
	xzFile, sign := tarballPublisher(t, korg, key)
	os.MkdirAll(filepath.Join(korg, "v6.x/incr"), 0o755)
	tarball, err := exec.Command("git", "-C", filepath.Join(korg, "linux"), "archive", "--format=tar", "--prefix=linux-6.12.118/", "v6.12.118").Output()
	if err != nil {
		t.Fatal(err)
	}
	xzFile(filepath.Join(korg, "v6.x/linux-6.12.118.tar.xz"), tarball)
	sign(filepath.Join(korg, "v6.x/linux-6.12.118.tar.sign"), tarball)
}

func TestRunFromTarballs(t *testing.T) {
	korg, key := upstreamFixtureKey(t)
	xzFile, sign := tarballPublisher(t, korg, key)
	publishTarball(t, korg, key)

	l := lineWith(t, korg, ", source: tarball, tarballs: "+korg, map[string]string{"frag.config": "", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	work := t.TempDir()
	_, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("Run from a tarball = %v", err)
	}
	if m.Upstream.Signer == "" || len(m.Upstream.Commit) != 40 || !strings.HasSuffix(m.Upstream.GitURL, "linux-6.12.118.tar.xz") {
		t.Errorf("manifest upstream = %+v", m.Upstream)
	}
	if !strings.Contains(m.Stages[0].Detail, "linux-6.12.118.tar.xz (tarball), signed by") {
		t.Errorf("fetch stage: %q", m.Stages[0].Detail)
	}

	diff := "diff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n@@ -1,3 +1,3 @@\n-SUBLEVEL = 118\n+SUBLEVEL = 119\n VERSION = 6\n PATCHLEVEL = 12\n"
	xzFile(filepath.Join(korg, "v6.x/incr/patch-6.12.118-119.xz"), []byte(diff))
	sign(filepath.Join(korg, "v6.x/incr/patch-6.12.118-119.sign"), []byte(diff))
	os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":false,"version":"6.12.119","moniker":"longterm"}]}`), 0o644)
	path, m2, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatalf("Run of 6.12.119 = %v", err)
	}
	if !strings.Contains(m2.Stages[0].Detail, "linux-6.12.119.tar.xz (incremental from 6.12.118)") || m2.KernelRelease != "6.12.119.1-microsoft-standard-WSL2" {
		t.Errorf("second run: fetch %q, release %s (%s)", m2.Stages[0].Detail, m2.KernelRelease, path)
	}
	trees, _ := filepath.Glob(filepath.Join(work, "cache/tarballs/*/linux-6.12.11[89]/Makefile"))
	if len(trees) != 2 {
		t.Fatalf("unpacked trees: %v", trees)
	}
	for _, mk := range trees {
		data, _ := os.ReadFile(mk)
		sublevel, _ := strconv.Atoi(mk[len(mk)-len("118/Makefile") : len(mk)-len("/Makefile")])
		if want := makefileOf(sublevel); string(data) != want {
			t.Errorf("%s = %q, want %q", mk, data, want)
		}
	}
}

// A point release pulled: after a run of 6.12.119, kernel.org offers 6.12.118 again, and the run
// in the same work dir builds 6.12.118 with its own release and bytes, then 6.12.119 once more.
func TestStepBackToAPulledPointRelease(t *testing.T) {
	korg, key := upstreamFixtureKey(t)
	repo, err := git.PlainOpen(filepath.Join(korg, "linux"))
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	os.WriteFile(filepath.Join(korg, "linux", "Makefile"), []byte(makefileOf(119)), 0o644)
	wt.Add("Makefile")
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161+7*86400, 0)}
	next, err := wt.Commit("Linux 6.12.119", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v6.12.119", next, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: key}); err != nil {
		t.Fatal(err)
	}
	offer := func(v string) {
		os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":false,"version":"`+v+`","moniker":"longterm"}]}`), 0o644)
	}
	l := line(t, korg, map[string]string{"frag.config": "", "series": ""})
	work := t.TempDir()
	kernels := map[string]string{}
	for _, sub := range []int{118, 119, 118, 119} {
		v := "6.12." + strconv.Itoa(sub)
		offer(v)
		_, m, _, err := runLine(t, l, work)
		if err != nil || m.KernelRelease != v+".1-microsoft-standard-WSL2" {
			t.Fatalf("run of %s after the others: %v, release %s", v, err, m.KernelRelease)
		}
		mk, _ := os.ReadFile(filepath.Join(work, "src", "smoke", "Makefile"))
		if string(mk) != makefileOf(sub) {
			t.Errorf("run of %s: the source tree's Makefile is %q", v, mk)
		}
		kernel := ""
		for _, o := range m.Outputs {
			if o.Name == "kernel" {
				kernel = o.SHA256
			}
		}
		if was, seen := kernels[v]; seen && was != kernel {
			t.Errorf("%s built again after a step back: kernel %s, first %s", v, kernel, was)
		}
		kernels[v] = kernel
	}
}

// A work dir used by another profile in between: each profile's trees and outputs are its own, so
// the first profile's next run finds every stage up to date, with the same bytes.
func TestAnotherProfileInBetweenLeavesTheWorkDirReusable(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	other := *l
	other.Name = "other"
	work := t.TempDir()
	_, first, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	if _, m, _, err := runLine(t, &other, work); err != nil || m.Profile != "other" {
		t.Fatalf("run of the other profile: %v (%+v)", err, m)
	}
	_, again, fake, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range again.Stages {
		if st.Name != "fetch" && st.Status != "skipped" {
			t.Errorf("after another profile's run, stage %s [%s] is %s, not up to date: %s", st.Name, st.Arch, st.Status, st.Detail)
		}
	}
	if len(fake.makes) != 0 || !slices.Equal(first.Outputs, again.Outputs) {
		t.Errorf("after another profile's run: make %v; outputs %v, first %v", fake.makes, again.Outputs, first.Outputs)
	}
}

// A signed tag whose tree's Makefile names another release is refused by fetch, in one line,
// before anything is configured or built; with allow_unsigned too.
func TestFetchRefusesATreeThatIsNotItsTagsRelease(t *testing.T) {
	korg, key := upstreamFixtureKey(t)
	repo, err := git.PlainOpen(filepath.Join(korg, "linux"))
	if err != nil {
		t.Fatal(err)
	}
	head, _ := repo.Head()
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161, 0)}
	if _, err := repo.CreateTag("v6.12.119", head.Hash(), &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: key}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":false,"version":"6.12.119","moniker":"longterm"}]}`), 0o644)
	for _, extra := range []string{"", ", allow_unsigned: true"} {
		l := lineWith(t, korg, extra, map[string]string{"frag.config": "", "series": ""})
		_, m, fake, err := runLine(t, l, t.TempDir())
		if !errors.Is(err, upstream.ErrWrongTree) || !strings.Contains(err.Error(), "v6.12.119 in "+korg+"/linux holds Linux 6.12.118 (its Makefile's VERSION, PATCHLEVEL and SUBLEVEL), not 6.12.119") {
			t.Errorf("Run of a 6.12.118 tree tagged v6.12.119 (%q) = %v", extra, err)
		}
		if len(fake.makes) != 0 || m == nil || m.Stages[0].Name != "fetch" || m.Stages[0].Status != "failed" {
			t.Errorf("(%q) make ran %v; manifest %+v", extra, fake.makes, m)
		}
	}
}

// allow_unsigned builds a tag nobody signed, but says so on the console and in the manifest.
func TestAllowUnsignedIsLoud(t *testing.T) {
	korg := upstreamFixture(t)
	repo, err := git.PlainOpen(filepath.Join(korg, "linux"))
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := repo.Tag("v6.12.118")
	obj, _ := repo.TagObject(tag.Hash())
	repo.DeleteTag("v6.12.118")
	if _, err := repo.CreateTag("v6.12.118", obj.Target, nil); err != nil { // lightweight
		t.Fatal(err)
	}
	strict := line(t, korg, map[string]string{"frag.config": "", "series": ""})
	if _, _, _, err := runLine(t, strict, t.TempDir()); err == nil || !strings.Contains(err.Error(), "v6.12.118 is a lightweight tag") {
		t.Fatalf("Run of a lightweight tag without allow_unsigned = %v", err)
	}
	loose := lineWith(t, korg, ", allow_unsigned: true", map[string]string{"frag.config": "", "series": ""})
	var out bytes.Buffer
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: &out}
	plan, err := NewPlan(context.Background(), loose, opts)
	if err != nil {
		t.Fatal(err)
	}
	path, err := Run(context.Background(), plan, opts)
	if err != nil {
		t.Fatalf("Run with allow_unsigned = %v", err)
	}
	m, _ := manifest.Read(path)
	if !m.Upstream.Unsigned || m.Upstream.Signer != "" || !strings.Contains(out.String(), "WARNING            v6.12.118: allow_unsigned is set") {
		t.Errorf("manifest upstream %+v; output:\n%s", m.Upstream, out.String())
	}
}

// A mirror whose objects are gone altogether (refs left, pack deleted) is repaired at fetch.
func TestMirrorWithoutObjectsIsRepaired(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "", "series": ""})
	work := t.TempDir()
	if _, _, _, err := runLine(t, l, work); err != nil {
		t.Fatal(err)
	}
	packs, _ := filepath.Glob(filepath.Join(work, "cache/mirrors/*.git/objects/pack/*"))
	for _, p := range packs {
		os.Remove(p)
	}
	_, m, _, err := runLine(t, l, work)
	if err != nil || m.Status != "ok" {
		t.Fatalf("Run on a mirror without objects = %v", err)
	}
}

func TestArchesBuildInParallelWhenCoresAllow(t *testing.T) {
	defer func(n int) { minParallelCores = n }(minParallelCores)
	minParallelCores = 1
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Arches = []string{"x86_64", "arm64"}
	l.Profile.Build.Headers = true
	_, m, _, err := runLine(t, l, t.TempDir())
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	stages := map[string]int{}
	for _, st := range m.Stages {
		if st.Status != "ok" {
			t.Errorf("stage %s [%s]: %s %s", st.Name, st.Arch, st.Status, st.Detail)
		}
		stages[st.Name+"/"+st.Arch]++
	}
	for _, arch := range l.Profile.Arches {
		for _, name := range []string{"configure", "build", "headers", "initrd", "boot"} {
			if stages[name+"/"+arch] != 1 {
				t.Errorf("stage %s [%s] ran %d times", name, arch, stages[name+"/"+arch])
			}
		}
	}
	outputs := map[string]bool{}
	for _, o := range m.Outputs {
		outputs[o.Name+"/"+o.Arch] = o.SHA256 != ""
	}
	for _, want := range []string{"kernel/x86_64", "kernel/arm64", "initrd/arm64", "headers/arm64", "headers/x86_64", "config/arm64"} {
		if !outputs[want] {
			t.Errorf("no output %s in %v", want, outputs)
		}
	}
	if len(m.Builds) != 2 || len(m.Boots) != 2 {
		t.Errorf("builds %+v, boots %+v", m.Builds, m.Boots)
	}
}
