package pipeline

import (
	"context"
	"path/filepath"
	"slices"

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
	// This stage replaces the run's: its payloads and its record.
	m.Stages = slices.DeleteFunc(m.Stages, func(st manifest.Stage) bool { return st.Name == stPackage })
	if supersedes != "" {
		pp := *p
		pp.Supersedes = supersedes
		p = &pp
	}
	r := newRun(p, opts, inPackage)
	if err := r.resume(m, stages); err != nil {
		return nil, err
	}
	r.m = m
	defer r.close()
	err = r.walk(ctx, r.exec)
	if werr := m.Write(filepath.Join(p.OutDir, "manifest.json")); err == nil {
		err = werr
	}
	return prevOutputs(m, "", []string{outPayload}), err
}
