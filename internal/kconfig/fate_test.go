package kconfig_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/kconfig"
)

// portTrees reads the two series of the fake tree in testdata/port (its README says what changed).
func portTrees(t *testing.T) (older, newer *kconfig.Rules) {
	t.Helper()
	older, err := kconfig.LoadRules("testdata/port/6.12", "x86")
	if err != nil {
		t.Fatal(err)
	}
	newer, err = kconfig.LoadRules("testdata/port/7.2", "x86")
	if err != nil {
		t.Fatal(err)
	}
	return older, newer
}

// What olddefconfig made on the newer tree of the older tree's requests: what survived.
const portFinal = `CONFIG_X86=y
CONFIG_NET=y
CONFIG_NETFILTER=y
CONFIG_IP_NF_IPTABLES=m
# CONFIG_IP_NF_IPTABLES_LEGACY is not set
CONFIG_NFS_FS=m
CONFIG_NFS_V4=m
CONFIG_HYPERV=y
# CONFIG_HYPERV_IRQ_REMAP is not set
# CONFIG_VIRTIO_FS_DAX is not set
# CONFIG_USB_NEW_NAME is not set
# CONFIG_IRQ_REMAP is not set
`

func TestFateOfEachDroppedSymbol(t *testing.T) {
	older, newer := portTrees(t)
	final, err := kconfig.Parse(strings.NewReader(portFinal), "final")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sym, want  string
		kind       kconfig.FateKind
		candidates []kconfig.Candidate
		needs      []kconfig.Need
		code       []string
	}{
		{sym: "IP_NF_FILTER", want: "m", kind: kconfig.LostDependency,
			needs: []kconfig.Need{{Term: "IP_NF_IPTABLES_LEGACY [=n]", Symbol: "IP_NF_IPTABLES_LEGACY", Value: "m", New: true}}},
		{sym: "NFS_V4_1", want: "y", kind: kconfig.Gone,
			code: []string{"its code fs/nfs/pnfs.c (fs/nfs/Makefile:3) is always built as part of CONFIG_NFS_V4's object (fs/nfs/Makefile:1)"}},
		{sym: "IOMMU_STUB", want: "y", kind: kconfig.Moved,
			candidates: []kconfig.Candidate{{Symbol: "IRQ_REMAP", File: "drivers/iommu/stub/Makefile", Line: 1, Score: 1,
				Evidence: "builds its code drivers/iommu/iommu-stub.c, now drivers/iommu/stub/stub-x86.c (3 of its 3 functions), which drivers/iommu/Makefile:1 built with CONFIG_IOMMU_STUB"}}},
		{sym: "HYPERV_IOMMU", want: "y", kind: kconfig.Renamed,
			candidates: []kconfig.Candidate{{Symbol: "HYPERV_IRQ_REMAP", File: "Kconfig", Line: 43, Evidence: `same prompt "Hyper-V x2APIC IRQ Handling"`, Score: 1}}},
		{sym: "VIRTIO_FS_DAX_OLD", want: "y", kind: kconfig.Renamed,
			candidates: []kconfig.Candidate{{Symbol: "VIRTIO_FS_DAX", File: "Kconfig", Line: 49, Evidence: "help text 90% alike", Score: 18.0 / 20}}},
		{sym: "USB_OLD_NAME", want: "m", kind: kconfig.Renamed,
			candidates: []kconfig.Candidate{{Symbol: "USB_NEW_NAME", File: "Kconfig", Line: 62, Evidence: "its default takes the value of the transitional USB_OLD_NAME", Score: 1}}},
	} {
		f := newer.FateOf(older, c.sym, c.want, final)
		if f.Kind != c.kind || !reflect.DeepEqual(f.Candidates, c.candidates) || !reflect.DeepEqual(f.Needs, c.needs) || !reflect.DeepEqual(f.Code, c.code) {
			t.Errorf("FateOf(%s=%s) = %s, candidates %+v, needs %+v, code %q; want %s, %+v, %+v, %q", c.sym, c.want, f.Kind, f.Candidates, f.Needs, f.Code, c.kind, c.candidates, c.needs, c.code)
		}
		if len(f.Why) == 0 {
			t.Errorf("FateOf(%s=%s) says nothing of why", c.sym, c.want)
		}
	}
}

// Without the tree the request was written for, nothing can be called a rename, and no
// dependency can be called new: the report must not claim what it cannot know.
func TestFateWithoutTheOlderTree(t *testing.T) {
	_, newer := portTrees(t)
	final, err := kconfig.Parse(strings.NewReader(portFinal), "final")
	if err != nil {
		t.Fatal(err)
	}
	if f := newer.FateOf(nil, "HYPERV_IOMMU", "y", final); f.Kind != kconfig.Gone || len(f.Candidates) > 0 {
		t.Errorf("FateOf(nil, HYPERV_IOMMU) = %s %v, want gone with no candidates", f.Kind, f.Candidates)
	}
	f := newer.FateOf(nil, "IP_NF_FILTER", "m", final)
	if f.Kind != kconfig.LostDependency || len(f.Needs) != 1 || f.Needs[0].New {
		t.Errorf("FateOf(nil, IP_NF_FILTER) = %s %+v, want one need not called new", f.Kind, f.Needs)
	}
}

// A dependency that was there before and is unmet now (its symbol was dropped in turn) is not
// called new; a symbol without a prompt is called hidden, since requesting it does nothing.
func TestNeedsOldAndHiddenDependencies(t *testing.T) {
	older, newer := portTrees(t)
	final, err := kconfig.Parse(strings.NewReader("CONFIG_NET=y\n"), "final")
	if err != nil {
		t.Fatal(err)
	}
	f := newer.FateOf(older, "IP_NF_IPTABLES", "m", final)
	want := []kconfig.Need{{Term: "NETFILTER [=n]", Symbol: "NETFILTER", Value: "y"}}
	if f.Kind != kconfig.LostDependency || !reflect.DeepEqual(f.Needs, want) {
		t.Errorf("FateOf(IP_NF_IPTABLES) = %s %+v, want %+v", f.Kind, f.Needs, want)
	}
	f = newer.FateOf(older, "USB_NEW_NAME", "n", final)
	if f.Kind != kconfig.Other {
		t.Errorf("FateOf(USB_NEW_NAME=n) = %s, want %s: being off depends on nothing", f.Kind, kconfig.Other)
	}
}

func TestHelpTextIsKept(t *testing.T) {
	older, _ := portTrees(t)
	got := older.Symbols["IP_NF_FILTER"].Defs[0].Help
	want := "Packet filtering defines a table `filter', which has a series of rules for simple packet filtering at local input, forwarding and local output."
	if got != want {
		t.Errorf("help of IP_NF_FILTER = %q, want %q", got, want)
	}
	if h := older.Symbols["NETFILTER"].Defs[0].Help; h != "" {
		t.Errorf("NETFILTER has no help, got %q", h)
	}
}
