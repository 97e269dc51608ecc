package kconfig_test

import (
	"bytes"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/version"
)

// The series jump of issue 23 on the real trees: the wsl profile's x86_64 fragments as they
// apply to 6.12 (what the line asked for before it knew 7.2), merged onto Debian's 7.2 tree as
// the configure stage merges them, then the tree's make olddefconfig. Every value it drops is
// judged against the 6.12 tree: the iptables-legacy tables lost a dependency on
// IP_NF_IPTABLES_LEGACY (or its IPv6 twin), new in 7.2; NFS_V4_1 is gone, its code part of
// NFS_V4; HYPERV_IOMMU's code moved behind IRQ_REMAP. These are the 12 values issue 23 saw
// dropped. The trees come from scripts/linux-source.
func TestFateOfTheRealSeriesJump(t *testing.T) {
	older, newer := linuxSource(t, "6.12"), linuxSource(t, "7.2")
	l := wslLine(t)
	a, err := kbuild.LookupArch("x86_64")
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	kt := &kbuild.Tree{Src: newer, Out: out, Arch: a, Wrapper: "none", Runner: runner.Exec{}}
	var log bytes.Buffer
	requested, _, err := pipeline.MergeConfig(t.Context(), l, version.Series{Major: 6, Minor: 12}, kt, &log)
	if err != nil {
		t.Fatalf("merging the wsl profile's 6.12 fragments onto 7.2: %v\n%s", err, log.String())
	}
	if err := kt.Make(t.Context(), &log, "olddefconfig"); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	final, err := kconfig.ParseFile(filepath.Join(out, ".config"))
	if err != nil {
		t.Fatal(err)
	}
	oldRules, err := kconfig.LoadRulesArch(older, a.Make, a.SrcArch)
	if err != nil {
		t.Fatal(err)
	}
	newRules, err := kconfig.LoadRulesArch(newer, a.Make, a.SrcArch)
	if err != nil {
		t.Fatal(err)
	}
	fates := map[string]kconfig.Fate{}
	for _, m := range kconfig.Verify(requested, final) {
		f := newRules.FateOf(oldRules, m.Requested.Symbol, m.Requested.Value, final)
		fates[f.Symbol] = f
		t.Logf("%s=%s: %s, candidates %v, needs %+v", f.Symbol, f.Want, f.Kind, f.Candidates, f.Needs)
	}
	for _, table := range []string{"FILTER", "NAT", "TARGET_MASQUERADE", "MANGLE", "RAW"} {
		for _, family := range []string{"IP", "IP6"} {
			sym, legacy := family+"_NF_"+table, family+"_NF_IPTABLES_LEGACY"
			f, ok := fates[sym]
			// MASQUERADE depends on its family's NAT table as before, which is dropped in turn.
			need := kconfig.Need{Term: legacy + " [=n]", Symbol: legacy, Value: "m", New: true}
			if table == "TARGET_MASQUERADE" {
				need = kconfig.Need{Term: family + "_NF_NAT [=n]", Symbol: family + "_NF_NAT", Value: "m"}
			}
			switch {
			case !ok:
				t.Errorf("%s: olddefconfig kept it on 7.2; issue 23 saw it dropped", sym)
			case f.Kind != kconfig.LostDependency || !slices.Equal(f.Needs, []kconfig.Need{need}):
				t.Errorf("%s: %s, needs %+v; want a dependency lost: %+v", sym, f.Kind, f.Needs, need)
			}
		}
	}
	// NFSv4.1 is part of NFS_V4 in 7.2: its pNFS code is always built into nfsv4.o. NFS_V4_0's
	// help is alike in words, but names another version and RFC: no rename.
	if f := fates["NFS_V4_1"]; f.Kind != kconfig.Gone || len(f.Candidates) > 0 ||
		!slices.Contains(f.Code, "its code fs/nfs/pnfs.c (fs/nfs/Makefile:33) is always built as part of CONFIG_NFS_V4's object (fs/nfs/Makefile:25)") {
		t.Errorf("NFS_V4_1: %s, candidates %v, code %q; want gone, its code part of NFS_V4", f.Kind, f.Candidates, f.Code)
	}
	// HYPERV_IOMMU's IRQ remapping moved to drivers/iommu/hyperv/, built with IRQ_REMAP.
	want := []kconfig.Candidate{{Symbol: "IRQ_REMAP", File: "drivers/iommu/hyperv/Makefile", Line: 2, Score: 1,
		Evidence: "builds its code drivers/iommu/hyperv-iommu.c, now drivers/iommu/hyperv/hv-irq-remap-x86.c (9 of its 9 functions), which drivers/iommu/Makefile:27 built with CONFIG_HYPERV_IOMMU"}}
	if f := fates["HYPERV_IOMMU"]; f.Kind != kconfig.Moved || !slices.Equal(f.Candidates, want) {
		t.Errorf("HYPERV_IOMMU: %s %v, want moved: %v; why: %s", f.Kind, f.Candidates, want, strings.Join(f.Why, "; "))
	}
	if len(fates) != 12 {
		t.Errorf("%d values dropped, want the 12 of issue 23", len(fates))
	}
}
