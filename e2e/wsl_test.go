//go:build e2e

package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// wslWork keeps the wsl line's trees between runs (its own, apart from the configure tests').
func wslWork() string { return filepath.Join(cacheDir, "e2e-wsl-work") }

// wslX86 is the wsl profile from the local kernel.org at release, x86_64 only: the arm64 wsl
// kernel is built and booted by scripts/bench, not in CI.
func wslX86(release string) func(string) string {
	return func(s string) string {
		s = wslLocal(release)(s)
		s = strings.Replace(s, "    arches: [x86_64, arm64]\n", "    arches: [x86_64]\n", 1) // the wsl profile's comes first
		s = strings.Replace(s, "      arch_base:\n        arm64: allnoconfig\n", "", 1)
		return strings.Replace(s, "        arm64: [configs/wsl-base-arm64.config, configs/wsl-arm64.config]\n", "", 1)
	}
}

// The wsl line end to end on x86_64: from the local kernel.org, patched, configured with every
// feature, built, its modules disk made, booted with the smoke init, then booted with a real
// Debian 12 userland (systemd, the modules disk overlaid as WSL's init does) where every probe
// must pass (Docker on both iptables backends with a published port, --cpus, TUN, WireGuard,
// FUSE, 9p, xfs/btrfs/squashfs, vhci-hcd, KVM, BTF, /proc/config.gz, no failed unit; SELinux the
// running major LSM and Docker again once AppArmor's tools are removed), and only
// then packaged. The run's outputs are removed first, so every stage really runs; the trees and
// ccache are kept between runs of the suite, as a servicing machine keeps them.
func TestWslLineEndToEnd(t *testing.T) {
	pipeline := localPipeline(t, wslX86("6.12.118"))
	if err := os.RemoveAll(filepath.Join(wslWork(), "out")); err != nil {
		t.Fatal(err) // else the last run's records would stand in for this one's
	}
	start := time.Now()
	out, err := kbuildWith(t, pipeline, "run", "--profile", "wsl", "--work-dir", wslWork())
	t.Logf("kbuild run --profile wsl took %s:\n%s", time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("kbuild run --profile wsl: %v", err)
	}
	m, err := manifest.Read(filepath.Join(wslWork(), "out/wsl/6.12.118.1/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Conformance) != 1 || m.Conformance[0].Release != "6.12.118.1-microsoft-standard-WSL2" ||
		m.Conformance[0].InitSeconds <= 0 || m.Conformance[0].MultiUserSeconds <= m.Conformance[0].InitSeconds {
		t.Fatalf("conformance record: %+v", m.Conformance)
	}
	var ran []string
	for _, p := range m.Conformance[0].Probes {
		if p.Status != "pass" {
			t.Errorf("probe %s/%s: %s\n%s", p.Feature, p.Name, p.Status, p.Output)
		}
		ran = append(ran, p.Feature+"/"+p.Name)
	}
	// The manifest keeps a probe's output only when it failed; the guest's own report, kept
	// beside the console log, says what the modules probe saw.
	results, err := os.ReadFile(filepath.Join(wslWork(), "out/wsl/6.12.118.1/x86_64/conformance/results.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(results), `"feature":"modules","probe":"overlay","status":"pass"`) ||
		!strings.Contains(string(results), "/dev/vdb overlaid on /lib/modules/6.12.118.1-microsoft-standard-WSL2") {
		t.Errorf("the guest did not report the modules disk overlaid:\n%s", results)
	}
	// As on Microsoft's kernel, SELinux is the major LSM and AppArmor is built in but not
	// active, so Docker runs a container once AppArmor's tools are gone (issue 23).
	for _, want := range []string{"major LSM: selinux, want selinux", "/sys/module/apparmor/parameters/enabled: N",
		"the apparmor package is removed: no apparmor_parser", "docker run: container-ran"} {
		if !strings.Contains(string(results), want) {
			t.Errorf("the guest's report lacks %q:\n%s", want, results)
		}
	}
	if !slices.Equal(ran, wslProbes) {
		t.Errorf("the probes that ran:\n%v\nwant every one of the guest's:\n%v", ran, wslProbes)
	}
	names := stageNames(m)
	for _, st := range m.Stages {
		if st.Name == "conformance" && st.Status != "ok" {
			t.Errorf("the conformance stage is %s, not ok: this run did not boot the userland", st.Status)
		}
	}
	if i, j := slices.Index(names, "conformance/x86_64"), slices.Index(names, "package"); i < 0 || j < i {
		t.Errorf("package did not come after conformance: %v", names)
	}
}

// wslProbes is every probe the guest runs (conformance/guest/usr/local/sbin/wslk-probes), in order.
var wslProbes = []string{"modules/overlay", "systemd/multi-user", "systemd/cgroup-v2", "systemd/no-failed-units",
	"introspection/config-gz", "btf/vmlinux", "bpf-tracing/kprobe", "security/lsm", "security/major-lsm", "tun-vpn/tun",
	"wireguard-overlay/wireguard", "wireguard-overlay/vxlan", "tc/netem", "fuse/bindfs", "shares-9p-virtiofs/virtio-9p",
	"disk-filesystems/ext4", "disk-filesystems/xfs", "disk-filesystems/btrfs", "disk-filesystems/squashfs",
	"usbip/vhci-hcd", "kvm-nested/kvm-modules", "ipsec/esp-tunnel", "bluetooth/btusb", "webcam/uvcvideo",
	"ntfs3/loop-mount", "zswap-ksm/zswap", "zswap-ksm/ksm", "mptcp/connection", "socketcan/vcan",
	"docker-nft/published-port", "docker-limits/cpus", "docker-legacy/published-port",
	"security/docker-without-apparmor-tools"}

// stageNames lists a manifest's stages as name[/arch], in order.
func stageNames(m *manifest.Manifest) []string {
	var names []string
	for _, st := range m.Stages {
		name := st.Name
		if st.Arch != "" {
			name += "/" + st.Arch
		}
		names = append(names, name)
	}
	return names
}
