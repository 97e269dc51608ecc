package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Features are resolved by the pipeline's load step (pipeline.Load), not by config's validation:
// these tests load config's fixture through it, so its errors stand at the same file:line:column
// as validation's own.

// load writes doc as dir's pipeline.yaml and loads it as kbuild does.
func load(t *testing.T, dir, doc string) (*config.Pipeline, error) {
	t.Helper()
	path := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(path, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return pipeline.Load(path)
}

func TestFeatureErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		features string // the profile's config.features
		want     string // a substring of the error, with file:line:column
	}{
		{"unknown feature", "[fuse, kvm-nestd]", `pipeline.yaml:21:24: profiles.smoke.config.features[1]: no such feature: "kvm-nestd" is not in %DIR%/configs/features; did you mean "kvm-nested"?`},
		{"feature twice", "[fuse, fuse]", `pipeline.yaml:21:24: profiles.smoke.config.features[1]: "fuse" is listed twice`},
		{"override before what it overrides", "[fuse-builtin, fuse]", `pipeline.yaml:21:18: profiles.smoke.config.features[0]: feature fuse-builtin overrides fuse, so it must come after it: the later fragment wins`},
		{"feature for other arches", "[big-hosts]", `pipeline.yaml:21:18: profiles.smoke.config.features[0]: feature big-hosts is for arm64 only, and the profile builds x86_64`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEST_KORG", "/srv/korg")
			dir := config.Fixture(t)
			doc := strings.Replace(config.Valid, "[configs/smoke.config]", "[configs/smoke.config]\n      features: "+tc.features, 1)
			_, err := load(t, dir, doc)
			if want := strings.ReplaceAll(tc.want, "%DIR%", dir); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("pipeline.Load() error =\n%v\nwant it to contain\n%s", err, want)
			}
			// config's validation alone resolves no features, so it has nothing to say of them.
			if _, err := config.Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc)); err != nil {
				t.Errorf("config.Parse() = %v, want no error", err)
			}
		})
	}
	// A configs/features that cannot be read is an error at config.features.
	t.Setenv("TEST_KORG", "/srv/korg")
	dir := config.Fixture(t)
	os.WriteFile(filepath.Join(dir, "configs/features/broken.config"), []byte("CONFIG_X=y\n"), 0o644)
	_, err := load(t, dir, strings.Replace(config.Valid, "[configs/smoke.config]", "[configs/smoke.config]\n      features: [fuse]", 1))
	if want := "pipeline.yaml:21:17: profiles.smoke.config.features: "; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "broken.config") {
		t.Errorf("pipeline.Load() with an unreadable feature = %v, want an error at %q naming broken.config", err, want)
	}
}

func TestFeaturesAreMergedAfterFragmentsBeforeArchFragments(t *testing.T) {
	t.Setenv("TEST_KORG", "/srv/korg")
	dir := config.Fixture(t)
	doc := strings.Replace(config.Valid, "      fragments: [configs/smoke.config]", `      arch_base: {x86_64: allnoconfig}
      fragments: [configs/smoke.config]
      features: [kvm-nested, fuse]
      arch_fragments: {x86_64: [configs/other.config]}`, 1)
	p, err := load(t, dir, doc)
	if err != nil {
		t.Fatal(err)
	}
	k := p.Profiles["smoke"].Config
	var got []string
	for _, f := range k.FragmentsFor("x86_64") {
		got = append(got, strings.TrimPrefix(f, dir+"/"))
	}
	want := []string{"configs/smoke.config", "configs/features/kvm-nested.config", "configs/features/kvm-nested-x86_64.config", "configs/features/fuse.config", "configs/other.config"}
	if !slices.Equal(got, want) {
		t.Errorf("FragmentsFor(x86_64) = %q, want %q", got, want)
	}
	for _, tc := range []struct{ arch, want string }{{"x86_64", "allnoconfig"}, {"arm64", "tinyconfig"}} {
		if got := k.BaseFor(tc.arch); got != tc.want {
			t.Errorf("BaseFor(%s) = %q, want %q", tc.arch, got, tc.want)
		}
	}
	var rules []string
	for _, pol := range k.FeaturePolicies(version.Series{Major: 6, Minor: 12}) {
		for _, r := range pol.Rules {
			rules = append(rules, fmt.Sprintf("%s:%d %s %v", filepath.Base(pol.File), r.Line, r.Symbol, r.Allow["x86_64"]))
		}
	}
	wantRules := []string{"kvm-nested.config:3 KVM [m y]", "kvm-nested-x86_64.config:1 KVM_INTEL [m y]", "fuse.config:3 FUSE_FS [m y]"}
	if !slices.Equal(rules, wantRules) {
		t.Errorf("FeaturePolicies(6.12) = %q, want %q", rules, wantRules)
	}
}
