package pipeline

import (
	"context"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Package makes the Windows payloads from the last run's outputs (kbuild package), records them
// in that run's manifest and returns them. supersedes names the version they replace; empty: the
// newest earlier version built in this work dir, if any.
func Package(ctx context.Context, p *Plan, opts Options, supersedes string) ([]manifest.File, error) {
	m, unlock, err := onLastRun(p, &opts, "package")
	defer unlock()
	if err != nil {
		return nil, err
	}
	if supersedes != "" {
		pp := *p
		pp.Supersedes = supersedes
		p = &pp
	}
	r := newRun(p, opts, inPackage)
	defer r.close()
	err = r.extend(ctx, m, filepath.Join(p.OutDir, "manifest.json"))
	return prevOutputs(r.m, "", []string{outPayload}), err
}
