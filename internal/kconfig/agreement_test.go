package kconfig_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/version"
)

// agreementSeries are the kernel series the reader is checked on: Debian 12's 6.1 (the oldest
// a line is expected to follow, from before conf's 6.11 rework), our release line's, and the
// newest Debian ships (sid's 7.2, trixie-backports' 7.3).
var agreementSeries = []string{"6.1", "6.12", "7.2", "7.3"}

// The Kconfig reader agrees with the kernel's own: for each series and arch, the wsl profile's
// .config is made as the configure stage makes it (base, fragments and features as they apply
// to the series, local version, then the tree's make olddefconfig). Rules.Check recomputes
// every symbol from it, and Rules.Replay computes the whole of it from the merged input; both
// must find every line olddefconfig wrote (eval.go says exactly what agreeing means). Whether
// it kept every requested value is the configure stage's concern, not this test's: the
// reference is what it wrote. The language cases (language_test.go) then run through the
// tree's own conf, for what the profile's configs do not exercise. The trees come from
// scripts/linux-source.
func TestEvaluationAgreesWithOlddefconfig(t *testing.T) {
	l := wslLine(t)
	for _, series := range agreementSeries {
		t.Run(series, func(t *testing.T) {
			s, err := version.ParseSeries(series)
			if err != nil {
				t.Fatal(err)
			}
			tree := linuxSource(t, series)
			for _, arch := range l.Profile.Arches {
				t.Run(arch, func(t *testing.T) {
					a, err := kbuild.LookupArch(arch)
					if err != nil {
						t.Fatal(err)
					}
					if !a.Native() {
						testtool.Need(t, a.CrossCompile+"gcc")
					}
					start := time.Now()
					out := t.TempDir()
					kt := &kbuild.Tree{Src: tree, Out: out, Arch: a, Wrapper: "none", Runner: runner.Exec{}}
					var log bytes.Buffer
					if _, _, err := pipeline.MergeConfig(t.Context(), l, s, kt, &log); err != nil {
						t.Fatalf("merging the wsl profile's fragments: %v\n%s", err, log.String())
					}
					input, err := kconfig.ParseFile(filepath.Join(out, ".config"))
					if err != nil {
						t.Fatal(err)
					}
					if err := kt.Make(t.Context(), &log, "olddefconfig"); err != nil {
						t.Fatalf("%v\n%s", err, log.String())
					}
					made := time.Since(start)
					if arch == l.Profile.Arches[0] {
						// The tree's conf is built now: check the parts of the language this
						// profile does not use against it.
						t.Run("language", func(t *testing.T) {
							checkLanguage(t, filepath.Join(out, "scripts", "kconfig", "conf"), series)
						})
					}
					final, err := kconfig.ParseFile(filepath.Join(out, ".config"))
					if err != nil {
						t.Fatal(err)
					}
					start = time.Now()
					rules, err := kconfig.LoadRulesArch(tree, a.Make, a.SrcArch)
					if err != nil {
						t.Fatalf("reading the Kconfig files: %v", err)
					}
					res := rules.Check(final)
					for _, f := range res.Findings {
						t.Errorf("Check: %s", f)
					}
					replay := rules.Replay(input, final)
					for _, f := range replay.Findings {
						t.Errorf("Replay: %s", f)
					}
					tests := slices.Sorted(func(yield func(string) bool) {
						for s := range res.Toolchain {
							if !yield(s) {
								return
							}
						}
					})
					t.Logf("%s %s: %d Kconfig files, %d symbols, %d with a .config line; Check: %d disagree, "+
						"%d depend on toolchain tests (%s); Replay: %d computed, %d disagree; olddefconfig %.1fs, read and check %.1fs",
						series, arch, rules.Files, res.Checked, res.Written, len(res.Findings), len(tests),
						strings.Join(tests, " "), replay.Checked, len(replay.Findings), made.Seconds(), time.Since(start).Seconds())
				})
			}
		})
	}
}

// wslLine is the repository's wsl profile, whose configs the real trees are checked with.
func wslLine(t *testing.T) *config.Line {
	t.Helper()
	p, err := pipeline.Load("../../pipeline.yaml") // with its features, which the load step resolves
	if err != nil {
		t.Fatal(err)
	}
	l, err := p.Select("wsl")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// linuxSource is the unpacked tree of Debian's linux-source-<series>, from scripts/linux-source
// (which downloads it the first time); without it the test ends as testtool.Missing does.
func linuxSource(t *testing.T, series string) string {
	t.Helper()
	cmd := exec.Command("../../scripts/linux-source", series)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		testtool.Missing(t, fmt.Errorf("scripts/linux-source %s: %v\n%s", series, err, stderr.String()))
	}
	tree := strings.TrimSpace(string(out))
	if _, err := os.Stat(filepath.Join(tree, "Kconfig")); err != nil {
		t.Fatalf("scripts/linux-source %s printed %q, which is no kernel tree: %v", series, tree, err)
	}
	return tree
}
