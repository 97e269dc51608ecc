// Package feature holds the WSL features as data: each feature is a .config fragment under
// configs/features/ whose comment header says what users get and which symbols it cannot do
// without. A profile lists the features it ships; the fragments are merged like any other, and
// the essential symbols become policy rules checked on the final .config, so a feature cannot
// quietly go missing.
//
// A feature is <name>.config, for every arch, plus optionally <name>-<arch>.config with what
// only that arch has (KVM_INTEL on x86_64). Header lines, before the first setting or "# series:"
// line (a header key after it is an error):
//
//	# feature: Docker with the nft iptables backend      (required, one line: the summary)
//	# users: docker run -p on Debian 11+ and Ubuntu 22.04+ (required: who needs it)
//	# essential: NF_TABLES NFT_NAT NFT_MASQ                (the symbols a probe needs; repeatable)
//	# arches: x86_64                                      (optional: only these arches)
//	# overrides: security                                 (optional: features whose values it changes on purpose)
//	# conformance-cmdline: wslkernel.major_lsm=apparmor   (optional: what the conformance boot adds)
//
// No two features may ask different values of one symbol, unless one overrides the other: an
// opt-in that changes a shipped feature's choice on purpose (apparmor-active puts AppArmor ahead
// of security's SELinux). It is merged after the feature it overrides. What it changes may
// change what the conformance probes must see; its conformance-cmdline tells them (the probes
// read wslkernel.* words from the kernel command line).
//
// An arch file may carry its own "# essential:" lines, which apply to that arch only. Every
// essential symbol must be set by the feature's fragments (for the arches it applies to); the
// value wanted is the fragment's, and a module request is also met by a built-in.
//
// A feature knows its series: its fragments' "# series: <range>" lines (kconfig.Fragment) set
// some symbols on some kernel series only, so one folder serves 6.1 to 7.x. An essential symbol
// applies on a series where the feature's fragments set it there (unranged, or in a range that
// holds the series), with the value they set there: NFS_V4_1, set up to 7.1, is essential up to
// 7.1 and not asked for on 7.2, where NFS_V4 has it. Checks take the series of the tree at hand.
package feature

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/typo"
	"github.com/wslkernel/wslkernel/internal/version"
)

// ErrUnknown is returned (wrapped) by Lookup for a name no feature has.
var ErrUnknown = errors.New("no such feature")

// Feature is one fragment of configs/features/ and its header.
type Feature struct {
	Name    string
	Summary string   // "# feature:" line
	Users   string   // "# users:" lines, joined
	Arches  []string // the arches it applies to: "# arches:", else every arch of the set
	File    string   // <name>.config
	// ArchFiles are <name>-<arch>.config, merged after File on their arch.
	ArchFiles map[string]string
	// Overrides are the features whose values this one changes on purpose ("# overrides:").
	Overrides []string
	// ConformanceCmdline is added to the conformance boot's kernel command line when a profile
	// has the feature ("# conformance-cmdline:"): what the probes must expect of it.
	ConformanceCmdline string
	// essential lists the symbols the headers name for each arch, with where they were named;
	// Essentials says which apply on a series, and the value wanted there.
	essential map[string][]Essential
	// fragments are what the feature merges on each arch, in order: File, then the arch file.
	fragments map[string][]*kconfig.Fragment
}

// Essential is one symbol a feature cannot do without on an arch and series.
type Essential struct {
	Symbol string
	Want   string // the fragment's value on the series: y, m, a number or a string
	File   string // where it was named essential
	Line   int
	// Series is the range of the fragment line that sets it on the series (all: every series).
	Series kconfig.SeriesRange
}

// Set is the features of one folder, by name.
type Set struct {
	Dir      string
	Arches   []string // every arch the pipeline knows
	Features map[string]*Feature
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	headerRE = regexp.MustCompile(`^#\s*([a-z_-]+):\s*(.*)$`)
	// seriesLine starts the settings as a setting does: the header is over (kconfig reads it).
	seriesLine = regexp.MustCompile(`(?i)^#\s*series\s*:`)
	symbolRE   = regexp.MustCompile(`^[A-Za-z0-9_]+$`)
)

// headerKeys are the keys a header line may have.
var headerKeys = []string{"feature", "users", "essential", "arches", "overrides", "conformance-cmdline"}

// Load reads every fragment of dir; arches are the arches the pipeline knows (an arch file's
// suffix must be one). All problems are returned together, each naming file:line.
func Load(dir string, arches []string) (*Set, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.config"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("%s: no feature fragments (*.config) in this folder", dir)
	}
	s := &Set{Dir: dir, Arches: arches, Features: map[string]*Feature{}}
	var errs []error
	archFiles := map[string]string{} // path -> arch, read once every feature's main file is known
	for _, p := range paths {
		name := strings.TrimSuffix(filepath.Base(p), ".config")
		if arch := archSuffix(name, arches); arch != "" && fileExists(filepath.Join(dir, strings.TrimSuffix(name, "-"+arch)+".config")) {
			archFiles[p] = arch
			continue
		}
		f, err := s.readMain(p, name)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.Features[name] = f
	}
	for _, p := range slices.Sorted(maps.Keys(archFiles)) {
		arch := archFiles[p]
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(p), ".config"), "-"+arch)
		if f := s.Features[name]; f != nil {
			errs = append(errs, f.readArch(p, arch))
		}
	}
	for _, name := range s.Names() {
		errs = append(errs, s.Features[name].resolve(), s.checkOverrides(s.Features[name]))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return s, nil
}

func archSuffix(name string, arches []string) string {
	for _, a := range arches {
		if strings.HasSuffix(name, "-"+a) {
			return a
		}
	}
	return ""
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// header is what a fragment's leading comment lines say.
type header struct {
	fields    map[string][]string
	essential []Essential // Want filled in by Essentials, per series
}

// readHeader reads the comment lines before the first setting or "# series:" line of a fragment.
// A header key after them is an error: read as a comment, an essential symbol there would go
// unchecked without a word.
func readHeader(path string, data []byte) (*header, error) {
	h := &header{fields: map[string][]string{}}
	inHeader := true
	for i, line := range strings.Split(string(data), "\n") {
		n := i + 1
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "CONFIG_") || strings.HasPrefix(line, "# CONFIG_") || seriesLine.MatchString(line) {
			inHeader = false
			continue
		}
		m := headerRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		key, val := m[1], strings.TrimSpace(m[2])
		if !inHeader {
			if slices.Contains(headerKeys, key) {
				return nil, fmt.Errorf("%s:%d: \"# %s:\" after the first setting or # series: line: the header comes first (an essential symbol applies on the series where the fragments set it)", path, n, key)
			}
			continue
		}
		if !slices.Contains(headerKeys, key) {
			if near := closest(key, headerKeys); near != "" {
				return nil, fmt.Errorf("%s:%d: unknown header key %q, did you mean %q?", path, n, key, near)
			}
			continue // free text that happens to hold a colon
		}
		if key == "essential" {
			for _, sym := range strings.Fields(val) {
				sym = strings.TrimPrefix(sym, "CONFIG_")
				if !symbolRE.MatchString(sym) {
					return nil, fmt.Errorf("%s:%d: essential: %q is not a Kconfig symbol name", path, n, sym)
				}
				h.essential = append(h.essential, Essential{Symbol: sym, File: path, Line: n})
			}
		}
		h.fields[key] = append(h.fields[key], val)
	}
	return h, nil
}

func (s *Set) readMain(path, name string) (*Feature, error) {
	if !nameRE.MatchString(name) {
		return nil, fmt.Errorf("%s: feature name %q must be lower-case letters, digits and '-'", path, name)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	h, err := readHeader(path, data)
	if err != nil {
		return nil, err
	}
	f := &Feature{Name: name, File: path, ArchFiles: map[string]string{}, essential: map[string][]Essential{}, fragments: map[string][]*kconfig.Fragment{}}
	switch summary := h.fields["feature"]; {
	case len(summary) != 1 || summary[0] == "":
		return nil, fmt.Errorf("%s:1: the header needs one \"# feature: <what users get>\" line before the first CONFIG_ line", path)
	default:
		f.Summary = summary[0]
	}
	if f.Users = strings.Join(h.fields["users"], " "); f.Users == "" {
		return nil, fmt.Errorf("%s:1: the header needs a \"# users: <who needs it>\" line", path)
	}
	f.Arches = s.Arches
	if a := h.fields["arches"]; len(a) > 0 {
		f.Arches = strings.Fields(strings.Join(a, " "))
		for _, arch := range f.Arches {
			if !slices.Contains(s.Arches, arch) {
				return nil, fmt.Errorf("%s: arches: %q is not an arch (%s)", path, arch, strings.Join(s.Arches, ", "))
			}
		}
	}
	f.Overrides = strings.Fields(strings.Join(h.fields["overrides"], " "))
	f.ConformanceCmdline = strings.Join(strings.Fields(strings.Join(h.fields["conformance-cmdline"], " ")), " ")
	frag, err := kconfig.ParseFragment(strings.NewReader(string(data)), path)
	if err != nil {
		return nil, err
	}
	for _, arch := range f.Arches {
		f.essential[arch] = slices.Clone(h.essential)
		f.fragments[arch] = []*kconfig.Fragment{frag}
	}
	return f, nil
}

// readArch adds <name>-<arch>.config: its settings over the main file's, its essentials.
func (f *Feature) readArch(path, arch string) error {
	if !slices.Contains(f.Arches, arch) {
		return fmt.Errorf("%s: feature %s is for %s only (its arches: line), so it has no %s fragment", path, f.Name, strings.Join(f.Arches, ", "), arch)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	h, err := readHeader(path, data)
	if err != nil {
		return err
	}
	for _, key := range []string{"feature", "users", "arches", "overrides", "conformance-cmdline"} {
		if len(h.fields[key]) > 0 {
			return fmt.Errorf("%s: \"# %s:\" belongs in %s; an arch fragment's header has only essential: lines", path, key, filepath.Base(f.File))
		}
	}
	frag, err := kconfig.ParseFragment(strings.NewReader(string(data)), path)
	if err != nil {
		return err
	}
	f.fragments[arch] = append(f.fragments[arch], frag)
	f.ArchFiles[arch] = path
	f.essential[arch] = append(f.essential[arch], h.essential...)
	return nil
}

// resolve checks that every essential symbol is set by the feature's fragments for its arch, on
// some series at least: it applies on the series where they set it.
func (f *Feature) resolve() error {
	var errs []error
	for _, arch := range f.Arches {
		if len(f.essential[arch]) == 0 {
			errs = append(errs, fmt.Errorf("%s:1: feature %s names no essential symbol for %s: add \"# essential: SYM ...\" (what its probe needs)", f.File, f.Name, arch))
		}
		set := map[string]bool{}
		for _, frag := range f.fragments[arch] {
			for _, s := range frag.Settings() {
				set[s.Symbol] = set[s.Symbol] || s.Value != "n"
			}
		}
		for _, e := range f.essential[arch] {
			if !set[e.Symbol] {
				errs = append(errs, fmt.Errorf("%s:%d: essential CONFIG_%s is not set by the feature's fragments for %s, on any series: set it (=m where Kconfig allows) or drop it from the essential list", e.File, e.Line, e.Symbol, arch))
			}
		}
	}
	return errors.Join(errs...)
}

// checkOverrides checks that each feature f overrides is another feature of the set.
func (s *Set) checkOverrides(f *Feature) error {
	var errs []error
	for _, name := range f.Overrides {
		switch {
		case name == f.Name:
			errs = append(errs, fmt.Errorf("%s: overrides: a feature cannot override itself", f.File))
		case s.Features[name] == nil:
			_, err := s.Lookup(name)
			errs = append(errs, fmt.Errorf("%s: overrides: %w", f.File, err))
		}
	}
	return errors.Join(errs...)
}

// Essentials lists the essential symbols of the feature on arch and series: those its fragments
// set on that series, each with the value they set. None when the feature is not for arch.
func (f *Feature) Essentials(arch string, s version.Series) []Essential {
	req := f.Requested(arch, s)
	if req == nil {
		return nil
	}
	var out []Essential
	for _, e := range f.essential[arch] {
		set, ok := req.Get(e.Symbol)
		if !ok || set.Value == "n" {
			continue
		}
		e.Want, e.Series = set.Value, set.Series
		out = append(out, e)
	}
	return out
}

// ConformanceCmdline is what the features add to the conformance boot's kernel command line, in
// their order: the expectations their changes give the probes.
func ConformanceCmdline(features []*Feature) string {
	var words []string
	for _, f := range features {
		if f.ConformanceCmdline != "" {
			words = append(words, f.ConformanceCmdline)
		}
	}
	return strings.Join(words, " ")
}

// Names lists the features, sorted.
func (s *Set) Names() []string { return slices.Sorted(maps.Keys(s.Features)) }

// Lookup finds a feature by name; an unknown name's error wraps ErrUnknown and suggests the
// nearest names.
func (s *Set) Lookup(name string) (*Feature, error) {
	if f, ok := s.Features[name]; ok {
		return f, nil
	}
	if near := closest(name, s.Names()); near != "" {
		return nil, fmt.Errorf("%w: %q is not in %s; did you mean %q?", ErrUnknown, name, s.Dir, near)
	}
	return nil, fmt.Errorf("%w: %q is not in %s (features: %s)", ErrUnknown, name, s.Dir, strings.Join(s.Names(), ", "))
}

// closest is the known name nearest a likely typo, or "" when none is near (a third of the
// name's length, at least two edits).
func closest(got string, names []string) string {
	best, bestDist := "", max(3, len(got)/3+1)
	for _, n := range names {
		if d := typo.Distance(got, n); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// AppliesTo reports whether the feature exists on arch.
func (f *Feature) AppliesTo(arch string) bool { return slices.Contains(f.Arches, arch) }

// FragmentsFor lists the fragments merged for arch, in order; none when the feature is not
// for that arch.
func (f *Feature) FragmentsFor(arch string) []string {
	if !f.AppliesTo(arch) {
		return nil
	}
	if af, ok := f.ArchFiles[arch]; ok {
		return []string{f.File, af}
	}
	return []string{f.File}
}

// Requested is what the feature's fragments set on arch and series s, the arch file's word over
// the main file's (nil when the feature is not for arch).
func (f *Feature) Requested(arch string, s version.Series) *kconfig.Config {
	frags, ok := f.fragments[arch]
	if !ok {
		return nil
	}
	var views []*kconfig.Config
	for _, frag := range frags {
		views = append(views, frag.ForSeries(s))
	}
	_, requested, _ := kconfig.Merge(&kconfig.Config{}, views...)
	return requested
}

// OfFile is the feature among features whose fragment path is (its main file or an arch file),
// or nil: what an error about a fragment's line names, so that the maintainer reads "feature
// nfs-cifs" and not only a file.
func OfFile(features []*Feature, path string) *Feature {
	for _, f := range features {
		if f.File == path || slices.Contains(slices.Collect(maps.Values(f.ArchFiles)), path) {
			return f
		}
	}
	return nil
}
