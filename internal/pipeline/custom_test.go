package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A personal kernel: the profile plus --enable/--disable, merged last and verified; its release
// says +custom; it lives under out/custom; LatestRun finds it.
func TestCustomKernelFromAProfile(t *testing.T) {
	base := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\nCONFIG_EPOLL=y\n", "series": ""})
	work := t.TempDir()
	l, err := CustomLine(base, work, Custom{Enable: []string{"CONFIG_FUTEX"}, Disable: []string{"EPOLL"}}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	fake := &fakeKbuild{}
	path, m, _, err := runLineWith(t, l, Options{WorkDir: work, Runner: fake}, fake)
	if err != nil {
		t.Fatalf("custom run: %v", err)
	}
	if m.Profile != "custom" || m.KernelRelease != "6.12.118.1-microsoft-standard-WSL2+custom" || filepath.Dir(path) != filepath.Join(work, "out/custom/6.12.118.1") {
		t.Errorf("custom run: profile %s, release %s, at %s", m.Profile, m.KernelRelease, path)
	}
	cfg, _ := os.ReadFile(filepath.Join(work, "out/custom/6.12.118.1/x86_64/config"))
	for _, want := range []string{"CONFIG_FUTEX=y\n", "# CONFIG_EPOLL is not set\n", "CONFIG_PRINTK=y\n"} {
		if !strings.Contains(string(cfg), want) {
			t.Errorf("custom config lacks %q:\n%s", want, cfg)
		}
	}
	if len(m.Boots) != 1 || m.Boots[0].Release != m.KernelRelease {
		t.Errorf("custom kernel not booted: %+v", m.Boots)
	}
	if got, dir, err := LatestRun(work, "custom"); err != nil || got.Version != "6.12.118.1" || dir != filepath.Dir(path) {
		t.Errorf("LatestRun = %v, %s, %v", got, dir, err)
	}
	if _, _, err := LatestRun(work, "wsl"); err == nil || !strings.Contains(err.Error(), "no successful build of profile wsl") {
		t.Errorf("LatestRun(nothing built) = %v", err)
	}
	if base.Pipeline.Version.LocalVersion != "-microsoft-standard-WSL2" || base.Name != "smoke" {
		t.Errorf("CustomLine changed the base line: %s, %s", base.Name, base.Pipeline.Version.LocalVersion)
	}
}

// An option whose dependency is unmet fails the custom build naming the generated fragment's
// line, whose comment names the flag.
func TestCustomOptionThatCannotHoldFails(t *testing.T) {
	base := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	l, err := CustomLine(base, work, Custom{Enable: []string{"NEEDS_DEP"}}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, err = runLineWith(t, l, Options{WorkDir: work, Runner: &fakeKbuild{}}, nil)
	frag := filepath.Join(work, "custom.config")
	if err == nil || !strings.Contains(err.Error(), frag+":3: CONFIG_NEEDS_DEP=y was requested, but the final .config has n") {
		t.Fatalf("custom run with an unmet dependency = %v", err)
	}
	if data, _ := os.ReadFile(frag); !strings.Contains(string(data), "# from --enable NEEDS_DEP\nCONFIG_NEEDS_DEP=y\n") {
		t.Errorf("custom.config:\n%s", data)
	}
}

func TestCustomRefusesBadFlags(t *testing.T) {
	base := line(t, upstreamFixture(t), map[string]string{"frag.config": "", "series": ""})
	for name, c := range map[string]Custom{
		"nothing asked":        {},
		"not a symbol":         {Enable: []string{"NFS FS"}},
		"bad value":            {Enable: []string{"NFS_FS=q"}},
		"disable with a value": {Disable: []string{"DRM=y"}},
		"missing fragment":     {Fragments: []string{"/nonexistent.config"}},
		"arch not in profile":  {Enable: []string{"NFS_FS"}, Arches: []string{"arm64"}},
	} {
		if _, err := CustomLine(base, t.TempDir(), c, "x86_64"); err == nil {
			t.Errorf("%s: CustomLine accepted %+v", name, c)
		}
	}
}
