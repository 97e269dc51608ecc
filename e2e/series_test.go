//go:build e2e

package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// firstSeries is the series the local kernel.org is made of (scripts/mirror).
var firstSeries = version.Series{Major: 6, Minor: 12}

// nextRelease is the release of the local kernel.org's second series (scripts/mirror --series,
// which scripts/test asks for with Debian's newest linux-source): the newest release its
// releases.json lists, of a series other than the first, whose tag its linux.git holds (6.18.9
// is listed, as on kernel.org, but has no tree here).
func nextRelease(t *testing.T) version.Release {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(kernelOrg, "releases.json"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := upstream.ParseReleases(data)
	if err != nil {
		t.Fatal(err)
	}
	var next version.Release
	found := false
	for _, e := range f.Releases {
		r, err := version.ParseRelease(e.Version)
		if err != nil || e.Moniker == "linux-next" || r.Series() == firstSeries || found && r.Compare(next) <= 0 {
			continue
		}
		if exec.Command("git", "--git-dir", filepath.Join(kernelOrg, "linux.git"), "rev-parse", "-q", "--verify", "refs/tags/"+r.Tag()).Run() == nil {
			next, found = r, true
		}
	}
	if !found {
		t.Fatalf("the local kernel.org %s has no release with a tag but %s's: scripts/test adds Debian's newest series (scripts/mirror --series 7.3 %s)", kernelOrg, firstSeries, kernelOrg)
	}
	return next
}

// wslNextConfigWork keeps the trees TestWslProfileConfiguresOnTheNextSeries makes between runs,
// apart from the 6.12 configure tests' (one work dir would export each series over the other).
func wslNextConfigWork() string { return filepath.Join(cacheDir, "e2e-wsl-next-config") }

// The wsl line on the next series, the step a maintainer takes once a year: on the local
// kernel.org's second series (Debian's newest linux-source, 7.x), with only pipeline.yaml's
// series changed, the wsl profile configures for both arches as on 6.12: fetched from its signed
// tag, patched, and every value the fragments request for that series (their "# series:" lines)
// kept by olddefconfig, with the policy holding. The lines 7.x needs are in (the legacy iptables
// switch, arm64's lazy preemption) and those it has no symbol for (NFS_V4_1) out. Configure only:
// scripts/bench builds and boots the line on it.
func TestWslProfileConfiguresOnTheNextSeries(t *testing.T) {
	rel := nextRelease(t)
	series := rel.Series()
	pipeline := localPipeline(t, func(s string) string {
		s = wslLocal(rel.String())(s)
		return strings.Replace(s, "\nseries: \"6.12\"\n", "\nseries: \""+series.String()+"\"\n", 1)
	})
	start := time.Now()
	out, err := kbuildWith(t, pipeline, "configure", "--profile", "wsl", "--work-dir", wslNextConfigWork())
	t.Logf("kbuild configure --profile wsl on %s took %s:\n%s", rel.Tag(), time.Since(start).Round(time.Second), out)
	if err != nil {
		t.Fatalf("kbuild configure --profile wsl on %s: %v", rel.Tag(), err)
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		line := regexp.MustCompile(`(?m)^configure \[` + arch + `\] +[0-9]+ settings, [0-9]+ requested, all present, policy configs/wsl.policy holds`)
		if !line.MatchString(out) {
			t.Errorf("configure [%s] did not report every requested value present and the policy holding", arch)
		}
		build := filepath.Join(wslNextConfigWork(), "build/wsl", arch)
		src, err := filepath.EvalSymlinks(filepath.Join(build, "source"))
		if err != nil {
			t.Fatal(err)
		}
		if tree, _, err := upstream.TreeRelease(src); err != nil || tree.Series() != series {
			t.Fatalf("%s was configured on %v (%v), not on %s", arch, tree, err, rel)
		}
		final, err := kconfig.ParseFile(filepath.Join(build, ".config"))
		if err != nil {
			t.Fatal(err)
		}
		// What the fragments request on this series, read here from the fragments themselves,
		// checked on the .config configure left.
		var frags []*kconfig.Config
		for _, f := range wslFragments(t, arch) {
			frag, err := kconfig.ParseFragmentFile(filepath.Join(repoRoot, f))
			if err != nil {
				t.Fatal(err)
			}
			frags = append(frags, frag.ForSeries(series))
		}
		_, requested, _ := kconfig.Merge(&kconfig.Config{}, frags...)
		if n := len(requested.Settings()); n < 200 {
			t.Errorf("%s: the fragments request only %d settings on %s", arch, n, series)
		}
		for _, m := range kconfig.Verify(requested, final) {
			t.Errorf("%s on %s: %s", arch, rel, m)
		}
		want := map[string]string{"IP_NF_IPTABLES_LEGACY": "m", "NETFILTER_XTABLES_LEGACY": "y"}
		if arch == "arm64" {
			want["PREEMPT_LAZY"] = "y"
		}
		for sym, v := range want {
			if got := final.Value(sym); got != v {
				t.Errorf("%s on %s: CONFIG_%s=%s, want %s (a line for 7.2 on)", arch, rel, sym, got, v)
			}
		}
		if s, ok := final.Get("NFS_V4_1"); ok {
			t.Errorf("%s on %s: the .config has CONFIG_NFS_V4_1=%s, a symbol 7.2 on have not", arch, rel, s.Value)
		}
	}
}
