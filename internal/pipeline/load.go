package pipeline

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// Load reads and validates pipeline.yaml with the pipeline's load steps: a profile's features
// are resolved, its patch series read and the fetcher's caps checked as it loads, so an unknown
// feature, a missing patch or an impossible cap is an error of pipeline.yaml, named at its key,
// before any stage runs.
func Load(file string) (*config.Pipeline, error) { return config.LoadWith(file, loadSteps) }

// loadSteps are what config.LoadWith runs for the pipeline.
var loadSteps = config.Steps{Series: readSeries, Caps: checkCaps, Features: resolveFeatures}

// resolveFeatures looks a profile's feature names up in configs/features: each must be there,
// listed once, for one of the profile's arches, and after the features it overrides (the later
// fragment wins). The features resolved are those that pass, in the order listed.
func resolveFeatures(p *config.Pipeline, names, arches []string) ([]*feature.Feature, error) {
	set, err := p.Features()
	if err != nil {
		return nil, err
	}
	var resolved []*feature.Feature
	var errs []error
	for i, name := range names {
		f, err := set.Lookup(name)
		switch {
		case err != nil:
		case slices.Index(names, name) != i:
			err = fmt.Errorf("%q is listed twice", name)
		case !slices.ContainsFunc(arches, f.AppliesTo):
			err = fmt.Errorf("feature %s is for %s only, and the profile builds %s", name, strings.Join(f.Arches, ", "), strings.Join(arches, ", "))
		case slices.ContainsFunc(f.Overrides, func(o string) bool { return slices.Index(names, o) > i }):
			err = fmt.Errorf("feature %s overrides %s, so it must come after it: the later fragment wins", name, strings.Join(f.Overrides, ", "))
		default:
			resolved = append(resolved, f)
			continue
		}
		errs = append(errs, &config.ItemError{Index: i, Err: err})
	}
	return resolved, errors.Join(errs...)
}

// readSeries reads a quilt series as the patch stage will, for its errors only.
func readSeries(path string) error {
	_, err := patch.ReadSeries(path)
	return err
}

// checkCaps refuses a max_entry above max_unpacked, the defaults filled in: one file cannot be
// larger than all of them.
func checkCaps(u config.Upstream) error {
	lim := unpackLimits(u).WithDefaults()
	if lim.MaxEntry > lim.MaxUnpacked {
		return fmt.Errorf("%d bytes (%q, empty is the default) is more than max_unpacked's %d: one file cannot be larger than all of them; lower max_entry", lim.MaxEntry, u.MaxEntry, lim.MaxUnpacked)
	}
	return nil
}

// unpackLimits are the caps an upstream sets on one fetch.
func unpackLimits(u config.Upstream) upstream.Limits {
	var l upstream.Limits
	l.MaxUnpacked, l.MaxEntry = u.Caps()
	return l
}

// upstreamSource is where the line's releases are listed, and whom a release tag must be signed
// by (none with allow_unsigned).
func upstreamSource(l *config.Line) upstream.Source {
	src := upstream.Source{Kind: l.Upstream.Resolve, ReleasesURL: l.Upstream.Releases, GitURL: l.Upstream.Git}
	if !l.Upstream.AllowUnsigned {
		src.Trust = &upstream.Trust{Keyring: l.Upstream.Keyring, Signers: l.Upstream.Signers}
	}
	return src
}
