package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// BuildDir is the O= tree of a profile's arch in a work dir; it is kept between runs.
func BuildDir(workDir string, l *config.Line, arch string) string {
	return filepath.Join(treeDir(workDir, l, "build"), arch)
}

// treeDir is where a line keeps its source tree ("src") or its build trees ("build"):
// <work>/<kind>/<profile>. A derived line (kbuild custom's) keeps them in a folder of its own,
// <work>/<line>/<kind>/<base>, laid out as its base's are: from either build tree the source is
// ../../../src/<base>, and as ccache sees paths (relative to the source, CCACHE_BASEDIR) the
// custom kernel's compilations are its base's wherever its options left them alone.
func treeDir(workDir string, l *config.Line, kind string) string {
	if l.Base != "" {
		return filepath.Join(workDir, l.Name, kind, l.Base)
	}
	return filepath.Join(workDir, kind, l.Name)
}

// Explain says who set sym in the profile's last configured tree for arch and why it has its
// value: the base and every fragment line that set it, the final value, and what the tree's
// Kconfig files say about it.
func Explain(l *config.Line, opts Options, arch, sym string) ([]string, error) {
	sym = strings.TrimPrefix(sym, "CONFIG_")
	a, err := kbuild.LookupArch(arch)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(l.Profile.Arches, arch) {
		return nil, fmt.Errorf("profile %s does not build %s (%s)", l.Name, arch, strings.Join(l.Profile.Arches, ", "))
	}
	tree, err := readExplained(BuildDir(opts.WorkDir, l, arch), l.Name, a)
	if err != nil {
		return nil, err
	}
	final := tree.Final
	var out []string
	if s, ok := final.Get(sym); ok {
		out = append(out, fmt.Sprintf("CONFIG_%s=%s in %s", sym, s.Value, tree.Dotconfig))
	} else {
		out = append(out, fmt.Sprintf("CONFIG_%s is absent from %s (reads as n)", sym, tree.Dotconfig))
	}
	lines, want, err := whoSet(l, arch, sym, tree.base, tree.release.Series())
	if err != nil {
		return nil, err
	}
	out = append(out, lines...)
	switch have := final.Value(sym); {
	case want == "":
		out = append(out, "  no fragment asks for it: its value is the base's, or olddefconfig's from its default, selects and dependencies")
	case want == have:
		out = append(out, "  the final value is what was requested")
	default:
		out = append(out, fmt.Sprintf("  REQUESTED %s, but olddefconfig made it %s", want, have))
	}
	for _, line := range tree.rules.Why(sym, want, final) {
		out = append(out, "  "+line)
	}
	return out, nil
}

// Configured is a build tree the configure stage left, read back: its final .config, and beside
// it the base before the fragments and the link to the source tree it was configured from. The
// one reader of a build tree for explain and kbuild features.
type Configured struct {
	Dir, Dotconfig string
	Final          *kconfig.Config
}

// ReadConfigured reads the final .config of the build tree dir; the error wraps fs.ErrNotExist
// when the tree is not configured.
func ReadConfigured(dir string) (*Configured, error) {
	c := &Configured{Dir: dir, Dotconfig: filepath.Join(dir, ".config")}
	var err error
	if c.Final, err = kconfig.ParseFile(c.Dotconfig); err != nil {
		return nil, err
	}
	return c, nil
}

// Base is the .config before the fragments were merged; the error wraps fs.ErrNotExist when the
// tree was configured by an older kbuild, which kept none.
func (c *Configured) Base() (*kconfig.Config, error) { return kconfig.ParseFile(c.Dotconfig + ".base") }

// Source is the source tree the build tree was configured from, through its source link.
func (c *Configured) Source() (string, error) {
	src, err := filepath.EvalSymlinks(filepath.Join(c.Dir, "source"))
	if err != nil {
		return "", fmt.Errorf("%s: the build tree has no source link: %w", c.Dir, err)
	}
	return src, nil
}

// explained is what explain reads of a configured tree: the final .config, the base, and the
// source tree's Kconfig rules and release (whose series the fragments were applied for).
type explained struct {
	*Configured
	base    *kconfig.Config
	rules   *kconfig.Rules
	release version.Release
}

func readExplained(dir, profile string, a kbuild.Arch) (*explained, error) {
	c, err := ReadConfigured(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s is not configured yet: run kbuild run --profile %s first", dir, profile)
	}
	if err != nil {
		return nil, err
	}
	t := &explained{Configured: c}
	t.base, err = c.Base()
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s was configured by an older kbuild that kept no .config.base: run kbuild run --profile %s again", dir, profile)
	}
	if err != nil {
		return nil, err
	}
	src, err := c.Source()
	if err != nil {
		return nil, err
	}
	if t.release, _, err = upstream.TreeRelease(src); err != nil {
		return nil, err
	}
	t.rules, err = kconfig.LoadRulesArch(src, a.Make, a.SrcArch)
	return t, err
}

// whoSet lists the base's value of sym and every fragment line that set it on series s, and the
// value last requested ("" when no fragment asks for it there).
func whoSet(l *config.Line, arch, sym string, base *kconfig.Config, s version.Series) (lines []string, want string, err error) {
	baseName := baseName(l, arch)
	if s, ok := base.Get(sym); ok {
		lines = append(lines, fmt.Sprintf("  base %s: %s", baseName, s.Value))
	} else {
		lines = append(lines, fmt.Sprintf("  base %s: not mentioned", baseName))
	}
	for _, path := range l.Profile.Config.FragmentsFor(arch) {
		frag, err := kconfig.ParseFragmentFile(path)
		if err != nil {
			return nil, "", err
		}
		for _, set := range frag.Settings() {
			switch {
			case set.Symbol != sym:
			case !set.Series.Contains(s):
				lines = append(lines, fmt.Sprintf("  not applied: %s:%d: %s is for series %s, and this tree is %s", l.Pipeline.Rel(set.File), set.Line, set.Value, set.Series, s))
			case set.Series.IsAll():
				lines = append(lines, fmt.Sprintf("  set by %s:%d: %s", l.Pipeline.Rel(set.File), set.Line, set.Value))
				want = set.Value
			default:
				lines = append(lines, fmt.Sprintf("  set by %s:%d: %s (for series %s)", l.Pipeline.Rel(set.File), set.Line, set.Value, set.Series))
				want = set.Value
			}
		}
	}
	if set, ok := schemeFragment(l).Get(sym); ok {
		lines = append(lines, fmt.Sprintf("  set by %s:%d: %s", l.Pipeline.Rel(set.File), set.Line, set.Value))
		want = set.Value
	}
	return lines, want, nil
}
