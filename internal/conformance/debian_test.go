//go:build conformance

package conformance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// The harness on a kernel other than ours: Debian's own, with its initrd, must pass every probe
// whose feature its config has and fail the rest. It builds the userland with mmdebstrap (about
// two minutes the first time, then cached) and boots it under emulation (several minutes), so it
// is a suite of its own, not part of scripts/test (whose e2e suite runs the conformance stage on
// our wsl kernel):
//
//	go test -tags conformance -timeout 60m -v ./internal/conformance/
//
// The userland cache is WSLKERNEL_CONFORMANCE_CACHE, else the user's cache folder.

func testUserland(t *testing.T) Userland {
	cache := os.Getenv("WSLKERNEL_CONFORMANCE_CACHE")
	if cache == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			t.Fatal(err)
		}
		cache = filepath.Join(dir, "wslkernel", "conformance")
	}
	return Userland{PackageList: "../../conformance/packages.list", GuestDir: "../../conformance/guest", CacheDir: cache, Log: testLog{t}}
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// debianKernel is the newest Debian kernel package installed on this machine (scripts/setup
// installs linux-image-amd64): its image, initrd, release and config.
func debianKernel(t *testing.T) (kernel, initrd, release string, config map[string]string) {
	images, _ := filepath.Glob("/boot/vmlinuz-*-amd64")
	var chosen string
	for _, img := range images {
		if !strings.Contains(img, "-cloud-") { // the cloud flavour has no 9p and no usbip
			chosen = img
		}
	}
	if chosen == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("CI is set, but no /boot/vmlinuz-*-amd64: scripts/setup installs linux-image-amd64")
		}
		t.Skip("no Debian kernel in /boot: apt-get install linux-image-amd64")
	}
	release = strings.TrimPrefix(filepath.Base(chosen), "vmlinuz-")
	f, err := os.Open("/boot/config-" + release)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	config = map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok && strings.HasPrefix(k, "CONFIG_") {
			config[k] = v
		}
	}
	return chosen, "/boot/initrd.img-" + release, release, config
}

// A probe's verdict must follow the kernel: where Debian's config lacks what a probe needs, the
// probe must fail (so it is not passing vacuously); everywhere else it must pass.
var probeNeeds = map[string]string{
	"introspection/config-gz": "CONFIG_IKCONFIG_PROC",
	"btf/vmlinux":             "CONFIG_DEBUG_INFO_BTF",
	"usbip/vhci-hcd":          "CONFIG_USBIP_VHCI_HCD",
	"ntfs3/loop-mount":        "CONFIG_NTFS3_FS", // Debian 12's 6.1 has none
}

func TestConformanceDebianKernel(t *testing.T) {
	testtool.Need(t, "mmdebstrap", "qemu-system-x86_64", "qemu-img", "mke2fs")
	needRoot(t)
	kernel, initrd, release, config := debianKernel(t)
	ctx := context.Background()
	u := testUserland(t)
	start := time.Now()
	image, err := u.Build(ctx, runner.Exec{})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("userland %s ready in %s", image, time.Since(start).Round(time.Second))

	// The modules disk as the pipeline makes it, from a copy (Make removes build/source links).
	mods := filepath.Join(t.TempDir(), release)
	if out, err := exec.Command("cp", "-a", "/lib/modules/"+release, mods).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	vhdx := filepath.Join(t.TempDir(), "modules.vhdx")
	if _, err := moddisk.Make(ctx, runner.Exec{}, mods, vhdx, time.Unix(1700000000, 0)); err != nil {
		t.Fatal(err)
	}
	o := Options{Kernel: kernel, Initrd: initrd, ModulesDisk: vhdx, Release: release, Image: image,
		WorkDir: filepath.Join(u.CacheDir, "last-run")}
	res, err := Run(ctx, runner.Exec{}, o)
	var probeErr *ProbeError
	if err != nil && !errors.As(err, &probeErr) {
		t.Fatal(err)
	}
	t.Logf("init at %s, multi-user.target at %s, %s wall", res.TimeToInit, res.TimeToMultiUser, res.Wall.Round(time.Second))
	if res.TimeToInit <= 0 || res.TimeToMultiUser <= res.TimeToInit {
		t.Errorf("times to init %s and to multi-user %s are not in order", res.TimeToInit, res.TimeToMultiUser)
	}
	if len(res.Probes) < 33 {
		t.Errorf("%d probes ran, want every one of the guest's 33", len(res.Probes))
	}
	major := majorLSM(config)
	for _, p := range res.Probes {
		id := p.Feature + "/" + p.Name
		t.Logf("%-40s %-7s %6.1fs", id, p.Status, p.Seconds)
		sym, needs := probeNeeds[id]
		wantPass := !needs || config[sym] == "y" || config[sym] == "m"
		why := ""
		if needs {
			why = fmt.Sprintf(" (%s=%q in Debian's config)", sym, config[sym])
		}
		// Debian's kernel runs AppArmor (apparmor before selinux in its CONFIG_LSM): not the
		// major LSM the probes want, and Docker without AppArmor's tools fails there, as the
		// issue that brought these probes saw.
		switch id {
		case "security/major-lsm":
			wantPass, why = major == "selinux" && config["CONFIG_SECURITY_APPARMOR"] == "y", fmt.Sprintf(" (major LSM %s by CONFIG_LSM=%s)", major, config["CONFIG_LSM"])
		case "security/docker-without-apparmor-tools":
			wantPass, why = major != "apparmor", fmt.Sprintf(" (major LSM %s by CONFIG_LSM=%s)", major, config["CONFIG_LSM"])
		}
		if p.Pass() != wantPass {
			t.Errorf("%s: %s, want pass=%v%s; output:\n%s", id, p.Status, wantPass, why, p.Output)
		}
	}
}

// majorLSM is the exclusive LSM a kernel of config runs with no lsm= on its command line: the
// first of CONFIG_LSM's list that is an exclusive one (SELinux, Smack, AppArmor) built in, as
// security/security.c picks it; "none" when there is none.
func majorLSM(config map[string]string) string {
	for _, name := range strings.Split(strings.Trim(config["CONFIG_LSM"], `"`), ",") {
		switch name {
		case "selinux", "smack", "apparmor":
			if config["CONFIG_SECURITY_"+strings.ToUpper(name)] == "y" {
				return name
			}
		}
	}
	return "none"
}
