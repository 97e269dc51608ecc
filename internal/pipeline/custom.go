package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// CustomProfile is the profile name a personal kernel is built under (kbuild custom): its own
// source tree, build trees and outputs in the work dir, beside the line's.
const CustomProfile = "custom"

// Custom is what an enthusiast changes on top of a release line's profile.
type Custom struct {
	Enable    []string // NAME or NAME=y|m
	Disable   []string // NAME
	Fragments []string // files in .config fragment form
	Features  []string // names of configs/features/ fragments
	Arches    []string // empty: the base profile's arch that matches this machine, else all of them
}

var symbolName = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

// CustomLine derives the personal kernel's line from base: the same upstream, patches, config
// base and fragments, then the changes asked for, merged last and verified like any fragment (a
// value olddefconfig drops fails the build naming the flag that asked for it). The local version
// gains "+custom", so uname -r tells the kernel apart; nothing is packaged or published.
func CustomLine(base *config.Line, workDir string, c Custom, hostArch string) (*config.Line, error) {
	lines, err := flagLines(c)
	if err != nil {
		return nil, err
	}
	if len(lines) == 0 && len(c.Fragments) == 0 && len(c.Features) == 0 {
		return nil, fmt.Errorf("nothing to change: give --enable, --disable, --fragment or --feature")
	}
	extra, err := customFragments(base, workDir, lines, c.Fragments)
	if err != nil {
		return nil, err
	}
	arches, err := customArches(base, c.Arches, hostArch)
	if err != nil {
		return nil, err
	}
	features, err := customFeatures(base, c.Features, arches)
	if err != nil {
		return nil, err
	}
	prof := *base.Profile
	prof.Arches = arches
	prof.Package = config.Package{}
	prof.Config.AddFeatures(features...) // merged after the base's features, before its arch fragments
	// The changes come after every fragment of the base, its arch fragments included.
	prof.Config.ArchFragments = map[string][]string{}
	for _, a := range arches {
		prof.Config.ArchFragments[a] = append(slices.Clone(base.Profile.Config.ArchFragments[a]), extra...)
	}
	pipe := *base.Pipeline
	pipe.Publish = config.Publish{}
	pipe.Version.LocalVersion += "+custom"
	return &config.Line{Pipeline: &pipe, Name: CustomProfile, Base: base.Name, Upstream: base.Upstream, Profile: &prof}, nil
}

// flagLines turns --enable and --disable into fragment lines, each after a comment naming its flag.
// A symbol named twice is an error, as two lines for one symbol in a fragment are: which should win?
func flagLines(c Custom) ([]string, error) {
	var lines []string
	named := map[string]string{} // symbol -> the flag that named it
	add := func(flag, spec string, disable bool) error {
		name, value, hasValue := strings.Cut(spec, "=")
		name = strings.TrimPrefix(name, "CONFIG_")
		prev, twice := named[name]
		named[name] = flag + " " + spec
		switch {
		case !symbolName.MatchString(name):
			return fmt.Errorf("%s %q: not a Kconfig symbol name (such as NFS_FS or CONFIG_NFS_FS)", flag, spec)
		case twice:
			return fmt.Errorf("%s %q: CONFIG_%s is already named by %s: give each symbol once", flag, spec, name, prev)
		case disable && hasValue:
			return fmt.Errorf("--disable %q: takes a symbol alone (--enable NAME=y|m sets a value)", spec)
		case disable:
			lines = append(lines, fmt.Sprintf("# from --disable %s\n# CONFIG_%s is not set", spec, name))
		case !hasValue:
			lines = append(lines, fmt.Sprintf("# from --enable %s\nCONFIG_%s=y", spec, name))
		case value == "y" || value == "m":
			lines = append(lines, fmt.Sprintf("# from --enable %s\nCONFIG_%s=%s", spec, name, value))
		default:
			return fmt.Errorf("--enable %q: the value must be y (built in) or m (a module)", spec)
		}
		return nil
	}
	for _, e := range c.Enable {
		if err := add("--enable", e, false); err != nil {
			return nil, err
		}
	}
	for _, d := range c.Disable {
		if err := add("--disable", d, true); err != nil {
			return nil, err
		}
	}
	return lines, nil
}

// customFragments are the files merged after all of the base's fragments: the flags' lines,
// written to custom.config in the work dir, then the --fragment files.
func customFragments(base *config.Line, workDir string, lines, fragments []string) ([]string, error) {
	var extra []string
	if len(lines) > 0 {
		path := filepath.Join(workDir, CustomProfile+".config")
		text := "# Written by kbuild custom from its flags; merged after the " + base.Name + " profile's fragments.\n" + strings.Join(lines, "\n") + "\n"
		if err := os.MkdirAll(workDir, 0o755); err != nil {
			return nil, err
		}
		if err := atomicfile.WriteFile(path, []byte(text), 0o644); err != nil {
			return nil, err
		}
		extra = append(extra, path)
	}
	for _, f := range fragments {
		abs, err := filepath.Abs(f)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, fmt.Errorf("--fragment %s: %w", f, err)
		}
		extra = append(extra, abs)
	}
	return extra, nil
}

// customArches are the arches asked for, which must be the base profile's; none asked: the
// base profile's arch that matches this machine, else all of them.
func customArches(base *config.Line, asked []string, hostArch string) ([]string, error) {
	arches := asked
	if len(arches) == 0 {
		if slices.Contains(base.Profile.Arches, hostArch) {
			arches = []string{hostArch}
		} else {
			arches = base.Profile.Arches
		}
	}
	for _, a := range arches {
		if !slices.Contains(base.Profile.Arches, a) {
			return nil, fmt.Errorf("--arch %s: profile %s builds %s", a, base.Name, strings.Join(base.Profile.Arches, ", "))
		}
	}
	return arches, nil
}

// customFeatures looks up the --feature names; each must exist on one of the arches built.
func customFeatures(base *config.Line, names, arches []string) ([]*feature.Feature, error) {
	if len(names) == 0 {
		return nil, nil
	}
	set, err := base.Pipeline.Features()
	if err != nil {
		return nil, fmt.Errorf("--feature: %w", err)
	}
	var out []*feature.Feature
	for _, name := range names {
		f, err := set.Lookup(name)
		if err != nil {
			return nil, fmt.Errorf("--feature %s: %w", name, err)
		}
		if !slices.ContainsFunc(arches, f.AppliesTo) {
			return nil, fmt.Errorf("--feature %s: it is for %s only, and this build is for %s (--arch)", name, strings.Join(f.Arches, ", "), strings.Join(arches, ", "))
		}
		out = append(out, f)
	}
	return out, nil
}

// LatestRun is the newest successful run of a profile in the work dir (see manifest.LatestRun).
func LatestRun(workDir, profile string) (*manifest.Manifest, string, error) {
	return manifest.LatestRun(workDir, profile)
}
