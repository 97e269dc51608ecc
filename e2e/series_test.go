//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
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

// The wsl line's yearly move, rehearsed: kbuild port --series takes the line, configured on
// 6.12, to the local kernel.org's second series (Debian's newest linux-source, 7.x) in a place
// of its own (<work>/port/, the mirror's refs/wslkernel/port/), fetched from its signed tag,
// patched, and configured for both arches with the fragments, features and policy as they apply
// to that series. As the repository is, the line configures clean there: every value the
// fragments request for it (their "# series:" lines) is kept by olddefconfig, the lines 7.x
// needs are in (the legacy iptables switch, arm64's lazy preemption) and the one it has no
// symbol for (NFS_V4_1) out. Without the "# series:" lines that make it so, the port exits 5 and
// says, against the line's own 6.12 tree, what became of each symbol and what to change. The
// line's tree and release branch never move; a series upstream lacks is a usage error naming
// those it has. Configure only: scripts/bench builds and boots the line on the new series.
func TestPortTakesTheWslLineToTheNextSeries(t *testing.T) {
	rel := nextRelease(t)
	series := rel.Series()
	work := wslConfigWork()
	// The line's own tree, on 6.12.117 as the configure cases have it (fetched already when they
	// ran first): the port reads it, never writes it, for what became of each dropped symbol.
	pipeline := localPipeline(t, wslLocal("6.12.117"))
	if out, err := kbuildWith(t, pipeline, "fetch", "--profile", "wsl", "--work-dir", work); err != nil {
		t.Fatalf("kbuild fetch --profile wsl: %v\n%s", err, out)
	}
	lineTree := filepath.Join(work, "src/wsl")
	lineRefs := wslRefs(t)
	untouched := func(t *testing.T) {
		t.Helper()
		if tree, _, err := upstream.TreeRelease(lineTree); err != nil || tree.String() != "6.12.117" {
			t.Errorf("the line's tree %s is now %v (%v), want 6.12.117 untouched", lineTree, tree, err)
		}
		if got := wslRefs(t); got != lineRefs {
			t.Errorf("the line's refs in the mirror moved:\nbefore:\n%s\nafter:\n%s", lineRefs, got)
		}
	}
	portTree := filepath.Join(work, "port/src/wsl")
	header := "port     profile wsl from 6.12 to " + series.String() + ": " + rel.Tag() + " ("
	renames := "         rename candidates from " + lineTree + " (the line's tree, Linux 6.12.117"

	t.Run("clean", func(t *testing.T) {
		start := time.Now()
		out, err := kbuildWith(t, pipeline, "port", "--profile", "wsl", "--series", series.String(), "--work-dir", work)
		t.Logf("kbuild port --profile wsl --series %s took %s:\n%s", series, time.Since(start).Round(time.Second), out)
		if err != nil {
			t.Fatalf("kbuild port --series %s: %v, want exit 0", series, err)
		}
		for _, want := range []string{header, renames,
			`result   clean: the line configures on ` + rel.String() + ` as it is; set series: "` + series.String() + `" in `} {
			if !strings.Contains(out, want) {
				t.Errorf("the report lacks %q", want)
			}
		}
		untouched(t)
		if tree, _, err := upstream.TreeRelease(portTree); err != nil || tree != rel {
			t.Errorf("the port's tree %s is %v (%v), want %s", portTree, tree, err, rel)
		}
		for _, arch := range []string{"x86_64", "arm64"} {
			if !regexp.MustCompile(`(?m)^` + fmt.Sprintf("%-8s", arch) + ` clean: all [0-9]+ requested values hold, and the policy$`).MatchString(out) {
				t.Errorf("the report does not say %s is clean", arch)
			}
			build := filepath.Join(work, "port/build/wsl", arch)
			src, err := filepath.EvalSymlinks(filepath.Join(build, "source"))
			if err != nil {
				t.Fatal(err)
			}
			if want, _ := filepath.EvalSymlinks(portTree); src != want {
				t.Errorf("%s was configured from %s, not the port's tree %s", arch, src, portTree)
			}
			final, err := kconfig.ParseFile(filepath.Join(build, ".config"))
			if err != nil {
				t.Fatal(err)
			}
			// What the fragments request on this series, read here from the fragments
			// themselves, checked on the .config the port left.
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
	})

	t.Run("without the series lines", func(t *testing.T) {
		// configs/ as it was before the line knew 7.x: no legacy iptables switch (nor its
		// essentials), NFS_V4_1 and HYPERV_IOMMU requested on every series.
		pipeline := localPipeline(t, wslLocal("6.12.117"))
		configs := filepath.Join(filepath.Dir(pipeline), "configs")
		if err := os.Remove(configs); err != nil {
			t.Fatal(err)
		}
		if err := os.CopyFS(configs, os.DirFS(filepath.Join(repoRoot, "configs"))); err != nil {
			t.Fatal(err)
		}
		edit(t, filepath.Join(configs, "features/docker-legacy.config"), func(s string) string {
			s = cut(t, s, "# essential: NETFILTER_XTABLES_LEGACY IP_NF_IPTABLES_LEGACY IP6_NF_IPTABLES_LEGACY\n", "")
			return cut(t, s, "# series: 7.2-\n", "# series: all\n")
		})
		edit(t, filepath.Join(configs, "features/nfs-cifs.config"), func(s string) string {
			return cut(t, cut(t, s, "# series: -7.1\n", ""), "# series: all\n", "")
		})
		edit(t, filepath.Join(configs, "wsl-x86_64.config"), func(s string) string {
			return cut(t, cut(t, s, "# series: -7.1\n", ""), "# series: all\n", "")
		})
		docker := "configs/features/docker-legacy.config"
		nfs := "configs/features/nfs-cifs.config"
		x86 := "configs/wsl-x86_64.config"
		at := func(file, text string) string {
			return fmt.Sprintf("%s:%d", file, lineOf(t, filepath.Join(filepath.Dir(pipeline), file), text))
		}
		out, err := kbuildWith(t, pipeline, "port", "--profile", "wsl", "--series", series.String(), "--work-dir", work)
		t.Logf("kbuild port --profile wsl --series %s without the series lines:\n%s", series, out)
		if code := exitCode(err); code != 5 {
			t.Fatalf("kbuild port exit %d (%v), want 5: the line does not configure clean", code, err)
		}
		s := series.String()
		// The last series before the new one, where a line it lacks ends (for X.0, the line's).
		before := firstSeries.String()
		if series.Minor > 0 {
			before = version.Series{Major: series.Major, Minor: series.Minor - 1}.String()
		}
		for _, want := range []string{header, renames,
			"  CONFIG_IP_NF_FILTER=m LOST A DEPENDENCY (requested " + at(docker, "CONFIG_IP_NF_FILTER=m\n") + ")\n" +
				"      depends on IP_NF_IPTABLES_LEGACY [=n]: unmet, and new in " + s + "\n" +
				"      change: " + docker + ": request CONFIG_IP_NF_IPTABLES_LEGACY=m under \"# series: " + s + "-\"\n",
			"  CONFIG_NFS_V4_1=y GONE (requested " + at(nfs, "CONFIG_NFS_V4_1=y\n") + ")\n" +
				"      code: its code fs/nfs/pnfs.c (fs/nfs/Makefile:",
			"is always built as part of CONFIG_NFS_V4's object (fs/nfs/Makefile:",
			"      change: feature nfs-cifs (" + nfs + "): NFS_V4_1 does not exist on " + s + " (it exists on " + firstSeries.String() + "): put line " +
				strings.TrimPrefix(at(nfs, "CONFIG_NFS_V4_1=y\n"), nfs+":") + " (CONFIG_NFS_V4_1=y) under \"# series: -" + before + "\"\n",
			"  CONFIG_HYPERV_IOMMU=y MOVED (requested " + at(x86, "CONFIG_HYPERV_IOMMU=y\n") + ")\n" +
				"      candidate CONFIG_IRQ_REMAP (",
			"      change: " + x86 + ": HYPERV_IOMMU does not exist on " + s + " (it exists on " + firstSeries.String() + "): put line " +
				strings.TrimPrefix(at(x86, "CONFIG_HYPERV_IOMMU=y\n"), x86+":") + " (CONFIG_HYPERV_IOMMU=y) under \"# series: -" + before + "\"\n" +
				"      change: CONFIG_IRQ_REMAP=y is requested already (" + at(x86, "CONFIG_IRQ_REMAP=y\n") + "): nothing to add\n",
			"result   NOT CLEAN on " + s + ": make the changes above, then kbuild port --series " + s + " again; the line's branch, trees and releases are untouched\n",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("the report lacks\n%s", want)
			}
		}
		for _, arch := range []string{"x86_64", "arm64"} {
			if !regexp.MustCompile(`(?m)^` + fmt.Sprintf("%-8s", arch) + ` [0-9]+ values do not hold on ` + regexp.QuoteMeta(s) + `:$`).MatchString(out) {
				t.Errorf("the report does not say %s has values that do not hold", arch)
			}
		}
		untouched(t)
	})

	t.Run("a series upstream lacks", func(t *testing.T) {
		out, err := kbuildWith(t, pipeline, "port", "--profile", "wsl", "--series", "9.9", "--work-dir", work)
		if code := exitCode(err); code != 2 {
			t.Fatalf("kbuild port --series 9.9 exit %d (%v), want 2:\n%s", code, err, out)
		}
		view := os.Getenv("KERNEL_ORG")
		const seriesList = `([0-9]+\.[0-9]+(?:, [0-9]+\.[0-9]+)*)`
		lists := regexp.MustCompile(`--series 9\.9: no release of 9\.9 to port to: releases\.json \(file://` + regexp.QuoteMeta(view) + `/releases\.json\) lists ` + seriesList + `; the tags of file://` + regexp.QuoteMeta(view) + `/linux\.git are of ` + seriesList).FindStringSubmatch(out)
		if lists == nil {
			t.Fatalf("kbuild port --series 9.9 does not name the series upstream has:\n%s", out)
		}
		for i, what := range []string{"releases.json", "the tags"} {
			have := strings.Split(lists[i+1], ", ")
			if !slices.Contains(have, firstSeries.String()) || !slices.Contains(have, series.String()) {
				t.Errorf("%s name %s, want %s and %s among them", what, lists[i+1], firstSeries, series)
			}
		}
		untouched(t)
	})
}

// wslRefs lists the wsl line's refs in the mirror of the local kernel.org (its release branch),
// with the commit each names.
func wslRefs(t *testing.T) string {
	t.Helper()
	mirror := upstream.MirrorDir(cacheDir, "file://"+os.Getenv("KERNEL_ORG")+"/linux.git")
	out, err := exec.Command("git", "--git-dir", mirror, "for-each-ref", "--format=%(refname) %(objectname)", "refs/wslkernel/wsl/").Output()
	if err != nil || len(out) == 0 {
		t.Fatalf("the wsl line's refs in %s (%v): %q, want its release branch", mirror, err, out)
	}
	return string(out)
}

// edit rewrites the file at path with fn.
func edit(t *testing.T, path string, fn func(string) string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(fn(string(data))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// cut removes from s the first from and, when to is not empty, all after it up to the first to
// and that to itself. Either missing is the test's mistake.
func cut(t *testing.T, s, from, to string) string {
	t.Helper()
	i := strings.Index(s, from)
	if i < 0 {
		t.Fatalf("no %q to cut in:\n%s", from, s)
	}
	end := i + len(from)
	if to != "" {
		j := strings.Index(s[end:], to)
		if j < 0 {
			t.Fatalf("no %q after %q to cut to in:\n%s", to, from, s)
		}
		end += j + len(to)
	}
	return s[:i] + s[end:]
}

// lineOf is the number of the line of the file at path that is text (which ends in a newline).
func lineOf(t *testing.T, path, text string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range strings.SplitAfter(string(data), "\n") {
		if l == text {
			return i + 1
		}
	}
	t.Fatalf("%s has no line %q", path, text)
	return 0
}
