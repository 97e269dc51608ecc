package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// CheckResult compares what upstream offers with what was last built.
type CheckResult struct {
	Upstream  version.Release
	LastBuilt *version.Release // nil when the work dir holds no successful run of the profile
	Newer     bool             // upstream has something not built yet
}

// Check resolves the upstream release and compares it with the newest successful run of the
// profile in the work dir.
func Check(ctx context.Context, l *config.Line, opts Options) (*CheckResult, error) {
	rel, err := upstream.Resolve(ctx, l.Source(), l.Track(), l.Upstream.Pin)
	if err != nil {
		return nil, err
	}
	res := &CheckResult{Upstream: rel, Newer: true}
	manifests, _ := filepath.Glob(filepath.Join(opts.WorkDir, "out", l.Name, "*", "manifest.json"))
	for _, path := range manifests {
		m, err := manifest.Read(path)
		if err != nil || m.Status != "ok" {
			continue
		}
		built, err := version.ParseRelease(m.Upstream.Release)
		if err != nil {
			continue
		}
		if res.LastBuilt == nil || built.Compare(*res.LastBuilt) > 0 {
			res.LastBuilt = &built
		}
	}
	if res.LastBuilt != nil {
		res.Newer = rel.Compare(*res.LastBuilt) > 0
	}
	return res, nil
}

// Print says what Check found, in one line a person or a log can read.
func (c *CheckResult) Print(w io.Writer) {
	switch {
	case c.LastBuilt == nil:
		fmt.Fprintf(w, "upstream %s; nothing built yet: run to build it\n", c.Upstream)
	case c.Newer:
		fmt.Fprintf(w, "upstream %s is newer than the last build (%s): run to build it\n", c.Upstream, c.LastBuilt)
	default:
		fmt.Fprintf(w, "upstream %s; last build %s: up to date\n", c.Upstream, c.LastBuilt)
	}
}
