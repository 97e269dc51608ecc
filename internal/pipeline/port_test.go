package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// twoSeriesFixture is a local kernel.org with two series of the fake tree in
// ../kconfig/testdata/port: v6.12.118 and v7.2.1, both signed, both in releases.json.
func twoSeriesFixture(t *testing.T) string {
	t.Helper()
	korg, key := upstreamFixtureKey(t)
	repo, err := git.PlainOpen(filepath.Join(korg, "linux"))
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161, 0)}
	var written []string // the files of the series before, removed from the next
	for _, s := range []struct{ series, makefile, tag string }{
		{"6.12", makefileOf(118), "v6.12.118"},
		{"7.2", "VERSION = 7\nPATCHLEVEL = 2\nSUBLEVEL = 1\n", "v7.2.1"},
	} {
		for _, name := range written {
			wt.Remove(name)
		}
		written = nil
		from := filepath.Join("../kconfig/testdata/port", s.series)
		err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			name, _ := filepath.Rel(from, p)
			os.MkdirAll(filepath.Join(korg, "linux", filepath.Dir(name)), 0o755)
			written = append(written, name)
			return os.WriteFile(filepath.Join(korg, "linux", name), data, 0o644)
		})
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(korg, "linux", "Makefile"), []byte(s.makefile), 0o644)
		for _, name := range append(written, "Makefile") {
			if _, err := wt.Add(name); err != nil {
				t.Fatal(err)
			}
		}
		commit, err := wt.Commit("Linux "+strings.TrimPrefix(s.tag, "v"), &git.CommitOptions{Author: sig, Committer: sig})
		if err != nil {
			t.Fatal(err)
		}
		repo.DeleteTag(s.tag)
		if _, err := repo.CreateTag(s.tag, commit, &git.CreateTagOptions{Tagger: sig, Message: "Linux " + strings.TrimPrefix(s.tag, "v"), SignKey: key}); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[
		{"iseol":false,"version":"7.2.1","moniker":"stable"},
		{"iseol":false,"version":"6.12.118","moniker":"longterm"}]}`), 0o644)
	return korg
}

// portKbuild is fakeKbuild whose olddefconfig on a 7.x tree does what the 7.2 Kconfig of the
// fixture makes it do: a symbol it does not define is dropped (NFS_V4_9, which neither tree
// defines, too), and IP_NF_FILTER goes without IP_NF_IPTABLES_LEGACY.
type portKbuild struct{ fakeKbuild }

var gone72 = regexp.MustCompile(`(?m)^CONFIG_(NFS_V4_1|HYPERV_IOMMU|IOMMU_STUB|NFS_V4_9)=.*\n`)

func (f *portKbuild) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	if err := f.fakeKbuild.Run(ctx, name, args, env, out); err != nil || name != "make" || args[len(args)-1] != "olddefconfig" {
		return err
	}
	var o, src string
	for i, a := range args {
		if m := outArg.FindStringSubmatch(a); m != nil {
			o = m[1]
		}
		if a == "-C" {
			src = args[i+1]
		}
	}
	if mk, _ := os.ReadFile(filepath.Join(src, "Makefile")); !bytes.HasPrefix(mk, []byte("VERSION = 7")) {
		return nil
	}
	dotconfig := filepath.Join(o, ".config")
	data, _ := os.ReadFile(dotconfig)
	s := gone72.ReplaceAllString(string(data), "")
	if !regexp.MustCompile(`(?m)^CONFIG_IP_NF_IPTABLES_LEGACY=[ym]$`).MatchString(s) {
		s = strings.ReplaceAll(s, "CONFIG_IP_NF_FILTER=m\n", "")
	}
	return os.WriteFile(dotconfig, []byte(s), 0o644)
}

// What the line asks for on 6.12, as the wsl profile did before it followed 7.2.
const portFragment = `CONFIG_NET=y
CONFIG_NETFILTER=y
CONFIG_IP_NF_IPTABLES=m
CONFIG_IP_NF_FILTER=m
CONFIG_NFS_FS=m
CONFIG_NFS_V4=m
CONFIG_NFS_V4_1=y
CONFIG_HYPERV=y
CONFIG_HYPERV_IOMMU=y
CONFIG_IRQ_REMAP=y
CONFIG_IOMMU_STUB=y
`

// The series jump on a fake tree: the line fetched on 6.12, then ported to 7.2 in a place of its
// own. The report names the dropped symbol that lost a dependency (with the symbol to request),
// the one that is gone and the one renamed (with its candidate and the evidence), each with the
// change to its fragment; the line's tree and branch are untouched. With the changes made, the
// port is clean.
func TestPortReportsWhatTheNewSeriesNeeds(t *testing.T) {
	korg := twoSeriesFixture(t)
	l := line(t, korg, map[string]string{"series": "", "frag.config": portFragment})
	work := t.TempDir()
	fake := &portKbuild{}
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: fake, Out: io.Discard}
	plan, err := NewPlan(t.Context(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	lineTree, err := Fetch(t.Context(), plan, opts)
	if err != nil {
		t.Fatal(err)
	}
	lineRef := branchHead(t, opts, l.Upstream.Git, "refs/wslkernel/smoke/heads/wsl-6.12.y")

	var out bytes.Buffer
	opts.Out = &out
	rep, err := Port(t.Context(), l, version.Series{Major: 7, Minor: 2}, opts)
	if err != nil {
		t.Fatalf("Port: %v\n%s", err, out.String())
	}
	if rep.Clean() {
		t.Fatalf("Port on 7.2 is clean, want three findings")
	}
	if rep.OldTree != lineTree {
		t.Errorf("rename candidates came from %q, want the line's tree %s", rep.OldTree, lineTree)
	}
	var report bytes.Buffer
	rep.Print(&report)
	t.Logf("the report:\n%s", report.String())
	for _, want := range []string{
		"port     profile smoke from 6.12 to 7.2: v7.2.1 (newest of 7.2 in " + korg + "/releases.json)",
		"x86_64   4 values do not hold on 7.2:",
		"  CONFIG_IP_NF_FILTER=m LOST A DEPENDENCY (requested frag.config:4)\n" +
			"      depends on IP_NF_IPTABLES_LEGACY [=n]: unmet, and new in 7.2\n" +
			"      change: frag.config: request CONFIG_IP_NF_IPTABLES_LEGACY=m under \"# series: 7.2-\"\n",
		"  CONFIG_NFS_V4_1=y GONE (requested frag.config:7)\n" +
			"      code: its code fs/nfs/pnfs.c (fs/nfs/Makefile:3) is always built as part of CONFIG_NFS_V4's object (fs/nfs/Makefile:1)\n" +
			"      change: frag.config: NFS_V4_1 does not exist on 7.2 (it exists on 6.12): put line 7 (CONFIG_NFS_V4_1=y) under \"# series: -7.1\"\n",
		"  CONFIG_HYPERV_IOMMU=y RENAMED (requested frag.config:9)\n" +
			"      candidate CONFIG_HYPERV_IRQ_REMAP (Kconfig:43: same prompt \"Hyper-V x2APIC IRQ Handling\")\n" +
			"      change: frag.config: HYPERV_IOMMU does not exist on 7.2 (it exists on 6.12): put line 9 (CONFIG_HYPERV_IOMMU=y) under \"# series: -7.1\"\n" +
			"      change: frag.config: request CONFIG_HYPERV_IRQ_REMAP=y under \"# series: 7.2-\" (the likeliest new name: read its help first)\n",
		"  CONFIG_IOMMU_STUB=y MOVED (requested frag.config:11)\n" +
			"      candidate CONFIG_IRQ_REMAP (drivers/iommu/stub/Makefile:1: builds its code drivers/iommu/iommu-stub.c, now drivers/iommu/stub/stub-x86.c (3 of its 3 functions), which drivers/iommu/Makefile:1 built with CONFIG_IOMMU_STUB)\n" +
			"      change: frag.config: IOMMU_STUB does not exist on 7.2 (it exists on 6.12): put line 11 (CONFIG_IOMMU_STUB=y) under \"# series: -7.1\"\n" +
			"      change: CONFIG_IRQ_REMAP=y is requested already (frag.config:10): nothing to add\n",
		"result   NOT CLEAN on 7.2",
	} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("the report lacks\n%s\nreport:\n%s", want, report.String())
		}
	}

	// The line is where it was: its tree still 6.12, its branch unmoved; the port has its own.
	if rel, _, err := upstream.TreeRelease(lineTree); err != nil || rel.String() != "6.12.118" {
		t.Errorf("the line's tree is now %v (%v), want 6.12.118 untouched", rel, err)
	}
	if got := branchHead(t, opts, l.Upstream.Git, "refs/wslkernel/smoke/heads/wsl-6.12.y"); got != lineRef {
		t.Errorf("the line's branch moved from %s to %s", lineRef, got)
	}
	portTree := filepath.Join(work, PortProfile, "src", "smoke")
	if rel, _, err := upstream.TreeRelease(portTree); err != nil || rel.String() != "7.2.1" {
		t.Errorf("the port's tree %s is %v (%v), want 7.2.1", portTree, rel, err)
	}

	// The changes made as the report says: clean, and the port says how to move the line.
	fixed := `CONFIG_NET=y
CONFIG_NETFILTER=y
CONFIG_IP_NF_IPTABLES=m
CONFIG_IP_NF_FILTER=m
CONFIG_NFS_FS=m
CONFIG_NFS_V4=m
CONFIG_HYPERV=y
CONFIG_IRQ_REMAP=y
# series: -7.1
CONFIG_NFS_V4_1=y
CONFIG_HYPERV_IOMMU=y
CONFIG_IOMMU_STUB=y
# series: 7.2-
CONFIG_IP_NF_IPTABLES_LEGACY=m
CONFIG_HYPERV_IRQ_REMAP=y
`
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte(fixed), 0o644)
	rep, err = Port(t.Context(), l, version.Series{Major: 7, Minor: 2}, opts)
	if err != nil {
		t.Fatal(err)
	}
	report.Reset()
	rep.Print(&report)
	if !rep.Clean() || !strings.Contains(report.String(), "result   clean: the line configures on 7.2.1 as it is; set series: \"7.2\" in "+l.Pipeline.File+" (line 2)") {
		t.Errorf("after the changes, the port is not clean:\n%s", report.String())
	}
}

func branchHead(t *testing.T, opts Options, gitURL, ref string) string {
	t.Helper()
	m, unlock, err := upstream.OpenMirror(context.Background(), opts.CacheDir, gitURL)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	r, err := m.Repo().Storer.Reference(plumbing.ReferenceName(ref))
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	return r.Hash().String()
}

// A series that neither releases.json nor the tags have is named, with the series they have.
func TestPortToASeriesUpstreamLacks(t *testing.T) {
	korg := twoSeriesFixture(t)
	l := line(t, korg, map[string]string{"series": "", "frag.config": portFragment})
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &portKbuild{}, Out: io.Discard}
	_, err := Port(t.Context(), l, version.Series{Major: 7, Minor: 9}, opts)
	want := fmt.Sprintf("--series 7.9: no release of 7.9 to port to: releases.json (%[1]s/releases.json) lists 6.12, 7.2; the tags of %[1]s/linux are of 6.12, 7.2", korg)
	if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, upstream.ErrNoRelease) {
		t.Errorf("Port(7.9) = %v, want %q wrapping ErrNoRelease", err, want)
	}
	// kernel.org lists only the series it maintains; the tags may have one it dropped.
	os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":false,"version":"6.12.118","moniker":"longterm"}]}`), 0o644)
	_, err = Port(t.Context(), l, version.Series{Major: 7, Minor: 2}, opts)
	if want := "the tags have 7.2, so upstream.resolve: tags in " + l.Pipeline.File + " would follow it"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Port(7.2) with 7.2 only in the tags = %v, want %q", err, want)
	}
	if _, err := Port(t.Context(), l, version.Series{Major: 6, Minor: 12}, opts); err == nil || !strings.Contains(err.Error(), "follows 6.12 already") {
		t.Errorf("Port(6.12) = %v, want a refusal: the line follows it", err)
	}
}

// A feature's symbol that one series has and another lacks is named with the feature and the
// series. Configured on 7.2, where NFS_V4_1 is gone, the configure stage names the feature that
// asked for it, says 7.2 lacks it and gives the ranges that leave 7.2 out (one tree cannot tell
// which way the symbol went); kbuild port to 7.2, with the line's 6.12 tree beside, says 6.12 has
// it and gives the range. A symbol neither series has is called that, and given no range.
func TestFeatureSymbolMissingOnASeries(t *testing.T) {
	korg := twoSeriesFixture(t)
	l := line(t, korg, map[string]string{"series": "", "frag.config": "CONFIG_NET=y\n"})
	dir := l.Pipeline.Dir()
	os.MkdirAll(filepath.Join(dir, "configs/features"), 0o755)
	os.WriteFile(filepath.Join(dir, "configs/features/nfs-cifs.config"), []byte(`# feature: NFS client
# users: NAS shares
# essential: NFS_V4
CONFIG_NFS_FS=m
CONFIG_NFS_V4=m
CONFIG_NFS_V4_1=y
CONFIG_NFS_V4_9=y
`), 0o644)
	set, err := l.Pipeline.Features()
	if err != nil {
		t.Fatal(err)
	}
	nfs, _ := set.Lookup("nfs-cifs")
	l.Profile.Config.AddFeatures(nfs)
	seven := version.Series{Major: 7, Minor: 2}

	// The line as it would follow 7.2.
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &portKbuild{}, Out: io.Discard}
	plan, err := NewPlan(t.Context(), PortLine(l, seven), opts)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Configure(t.Context(), plan, opts)
	for _, want := range []string{
		"configs/features/nfs-cifs.config:6: CONFIG_NFS_V4_1=y was requested, but the final .config has n\n" +
			"      feature nfs-cifs: NFS_V4_1 does not exist on 7.2 (no Kconfig file of this tree defines it for x86_64): " +
			"give line 6 of configs/features/nfs-cifs.config a \"# series:\" range without 7.2, \"-7.1\" if the symbol went, \"7.3-\" if it came later " +
			"(kbuild port --series 7.2, from the line on another series, says which)\n" +
			"      no Kconfig file of this tree defines NFS_V4_1",
		"      feature nfs-cifs: NFS_V4_9 does not exist on 7.2",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Configure on 7.2 = %v, want it to say\n%s", err, want)
		}
	}

	// The series jump from the line's 6.12 tree: both trees read, the series that has it named.
	work = t.TempDir()
	opts = Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &portKbuild{}, Out: io.Discard}
	if plan, err = NewPlan(t.Context(), l, opts); err != nil {
		t.Fatal(err)
	}
	if _, err := Fetch(t.Context(), plan, opts); err != nil {
		t.Fatal(err)
	}
	rep, err := Port(t.Context(), l, seven, opts)
	if err != nil {
		t.Fatal(err)
	}
	var report bytes.Buffer
	rep.Print(&report)
	for _, want := range []string{
		"      change: feature nfs-cifs (configs/features/nfs-cifs.config): NFS_V4_1 does not exist on 7.2 (it exists on 6.12): put line 6 (CONFIG_NFS_V4_1=y) under \"# series: -7.1\"\n",
		"      change: feature nfs-cifs (configs/features/nfs-cifs.config): NFS_V4_9 exists neither on 7.2 nor on 6.12: correct the name, or move line 7 to the fragment of the arch that has it (see why, below)\n",
	} {
		if !strings.Contains(report.String(), want) {
			t.Errorf("the port's report lacks\n%s\nreport:\n%s", want, report.String())
		}
	}
}
