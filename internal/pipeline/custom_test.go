package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/config"
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
	// Its trees sit as its base's do, in a folder of its own: the same relative path from build
	// tree to source, so ccache (paths relative to the source) sees the base's compilations.
	if _, err := os.Stat(filepath.Join(work, "custom/src/smoke/Makefile")); err != nil {
		t.Errorf("the custom line's source tree is not in custom/src/smoke: %v", err)
	}
	if _, err := os.Stat(filepath.Join(work, "src/custom")); err == nil {
		t.Errorf("the custom line's source tree is in src/custom, beside the lines'")
	}
	rel := func(l *config.Line) string {
		r, _ := filepath.Rel(BuildDir(work, l, "x86_64"), treeDir(work, l, "src"))
		return r
	}
	if rel(l) != rel(base) || rel(l) != "../../../src/smoke" {
		t.Errorf("source seen from the build tree: custom %s, base %s", rel(l), rel(base))
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
		"enabled and disabled": {Enable: []string{"NFS_FS"}, Disable: []string{"CONFIG_NFS_FS"}},
		"enabled twice":        {Enable: []string{"NFS_FS", "NFS_FS=m"}},
	} {
		if _, err := CustomLine(base, t.TempDir(), c, "x86_64"); err == nil {
			t.Errorf("%s: CustomLine accepted %+v", name, c)
		}
	}
}

// --feature adds a feature's fragments after the base's own, before its arch fragments; an
// unknown name or a feature for other arches is refused, the unknown one with a suggestion.
func TestCustomFeature(t *testing.T) {
	base := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	dir := filepath.Join(base.Pipeline.Dir(), "configs", "features")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, text := range map[string]string{
		"fuse.config":      "# feature: FUSE\n# users: sshfs\n# essential: FUSE_FS\nCONFIG_FUSE_FS=m\n",
		"big-hosts.config": "# feature: CPUs\n# users: big hosts\n# arches: arm64\n# essential: NR_CPUS\nCONFIG_NR_CPUS=512\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	l, err := CustomLine(base, t.TempDir(), Custom{Features: []string{"fuse"}}, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	got := l.Profile.Config.FragmentsFor("x86_64")
	if want := []string{filepath.Join(base.Pipeline.Dir(), "frag.config"), filepath.Join(dir, "fuse.config")}; !slices.Equal(got, want) {
		t.Errorf("custom fragments = %q, want %q", got, want)
	}
	if len(base.Profile.Config.FeatureList()) != 0 {
		t.Errorf("CustomLine changed the base's features: %v", base.Profile.Config.Features)
	}
	for _, tc := range []struct{ feature, want string }{
		{"fusee", `--feature fusee: no such feature: "fusee" is not in ` + dir + `; did you mean "fuse"?`},
		{"big-hosts", "--feature big-hosts: it is for arm64 only, and this build is for x86_64 (--arch)"},
	} {
		_, err := CustomLine(base, t.TempDir(), Custom{Features: []string{tc.feature}}, "x86_64")
		if err == nil || err.Error() != tc.want {
			t.Errorf("CustomLine(--feature %s) = %v, want %q", tc.feature, err, tc.want)
		}
	}
}
