package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/conformance"
)

// An opt-in feature's conformance-cmdline (apparmor-active: wslkernel.major_lsm=apparmor) tells
// the probes what to expect: it is on the conformance boot's kernel command line, and in the
// stage's key, so adding the feature boots the userland again.
func TestConformanceCmdlineFollowsTheFeatures(t *testing.T) {
	l := line(t, "/nonexistent", map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "", "packages.list": "systemd\n"})
	dir := l.Pipeline.Dir()
	os.MkdirAll(filepath.Join(dir, "configs/features"), 0o755)
	os.MkdirAll(filepath.Join(dir, "guest"), 0o755)
	os.WriteFile(filepath.Join(dir, "configs/features/security.config"), []byte("# feature: LSMs\n# users: everyone\n# essential: SECURITY\nCONFIG_SECURITY=y\nCONFIG_LSM=\"selinux,apparmor\"\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "configs/features/apparmor-active.config"), []byte("# feature: AppArmor first\n# users: snaps\n# overrides: security\n# conformance-cmdline: wslkernel.major_lsm=apparmor\n# essential: LSM\nCONFIG_LSM=\"apparmor,selinux\"\n"), 0o644)
	l.Profile.Conformance = &config.Conformance{Packages: filepath.Join(dir, "packages.list"), Guest: filepath.Join(dir, "guest")}
	set, err := l.Pipeline.Features()
	if err != nil {
		t.Fatal(err)
	}
	security, _ := set.Lookup("security")
	optIn, _ := set.Lookup("apparmor-active")

	r := &run{plan: &Plan{Line: l}}
	ar := &archRun{out: t.TempDir()}
	state := func() (string, string) {
		in, err := conformanceDeclares(l, "")
		if err != nil {
			t.Fatal(err)
		}
		_, args := conformance.Command(conformanceOptions(r, ar, "userland.img"), "<token>")
		return in["cmdline"], args[len(args)-1]
	}
	l.Profile.Config.AddFeatures(security)
	key, cmdline := state()
	if key != "" || strings.Contains(cmdline, "major_lsm") {
		t.Errorf("with security alone: key input %q, kernel command line %q; want neither to name major_lsm", key, cmdline)
	}
	l.Profile.Config.AddFeatures(optIn)
	key, cmdline = state()
	if key != "wslkernel.major_lsm=apparmor" || !strings.HasSuffix(cmdline, " wslkernel.major_lsm=apparmor") {
		t.Errorf("with apparmor-active: key input %q, kernel command line %q; want both to end in wslkernel.major_lsm=apparmor", key, cmdline)
	}
}
