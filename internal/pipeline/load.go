package pipeline

import (
	"fmt"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// Load reads and validates pipeline.yaml with the pipeline's load steps: a profile's patch
// series is read and the fetcher's caps checked as it loads, so a missing patch or an impossible
// cap is an error of pipeline.yaml, named at its key, before any stage runs.
func Load(file string) (*config.Pipeline, error) { return config.LoadWith(file, loadSteps) }

// loadSteps are what config.LoadWith runs for the pipeline.
var loadSteps = config.Steps{Series: readSeries, Caps: checkCaps}

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
