package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/patch"
	"github.com/wslkernel/wslkernel/internal/runner"
)

// The commands that run stages: each walks the table (stages.go) in its mode.

// newRun prepares a walk of the plan in a mode, with the options' defaults.
func newRun(p *Plan, opts Options, m mode) *run {
	if opts.Runner == nil {
		opts.Runner = runner.Exec{}
	}
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	r := &run{plan: p, opts: opts, mode: m, m: &manifest.Manifest{}}
	for _, a := range p.Arches {
		ar := r.newArch(a)
		r.arches = append(r.arches, ar)
		if len(opts.Arches) == 0 || slices.Contains(opts.Arches, a.Name) {
			r.built = append(r.built, ar)
		}
	}
	return r
}

// Run carries out the plan. The manifest is written whether the run succeeds or fails, so a
// failed run still says how far it got; its path is returned in both cases. With opts.Arches,
// every arch is configured (the branch's defconfig commit holds them all, so it is the same
// whichever arch a CI job builds) but only those are built and booted, and nothing is packaged:
// kbuild assemble gathers the arches' runs and packages them.
func Run(ctx context.Context, p *Plan, opts Options) (manifestPath string, err error) {
	return newRun(p, opts, inRun).execute(ctx)
}

// Assemble gathers runs that each built some of the profile's arches (kbuild run --arch, one CI
// job per arch; parts are their output folders, each holding a manifest.json) into one release of
// the plan's version, and packages it. It runs fetch, patch, configure and branch itself (cheap:
// the same inputs give the same branch head, which it needs in its own mirror to publish), checks
// that every part was built from that same release (version, upstream commit, branch head, inputs
// digest), takes each arch's outputs after checking their hashes, and carries over their build
// and boot records. Every arch of the profile must come from a part.
func Assemble(ctx context.Context, p *Plan, opts Options, parts []string) (string, error) {
	if len(parts) == 0 {
		return "", errors.New("no runs to assemble: name the output folders of kbuild run --arch")
	}
	opts.Arches = nil
	r := newRun(p, opts, inAssemble)
	r.parts = parts
	return r.execute(ctx)
}

// execute walks the table with the manifest written after every stage and at the end, under
// the work dir's lock; the last run of the version is what unchanged stages are taken from.
func (r *run) execute(ctx context.Context) (manifestPath string, err error) {
	p := r.plan
	unlock, err := lockWorkDir(r.opts.WorkDir, r.mode.String())
	if err != nil {
		return "", err
	}
	defer unlock()
	r.m = r.newManifest()
	manifestPath = filepath.Join(p.OutDir, "manifest.json")
	if err := os.MkdirAll(p.OutDir, 0o755); err != nil {
		return "", err
	}
	if prev, err := manifest.Read(manifestPath); err == nil {
		r.prev = prev
	}
	r.manifestPath = manifestPath
	defer func() {
		r.m.Status = "ok"
		if err != nil {
			r.m.Status, r.m.Error = "failed", err.Error()
		}
		if werr := r.m.Write(manifestPath); werr != nil && err == nil {
			err = werr
		}
	}()
	defer r.close()
	if r.m.Inputs, err = repositoryInputs(p.Line); err != nil {
		return manifestPath, err
	}
	if err := r.walk(ctx, r.exec); err != nil {
		return manifestPath, err
	}
	Say(r.opts.Out, "manifest", manifestPath)
	return manifestPath, nil
}

// newManifest is the manifest of a run of the plan, before any stage.
func (r *run) newManifest() *manifest.Manifest {
	p, l := r.plan, r.plan.Line
	m := &manifest.Manifest{
		Schema: manifest.Schema, Pipeline: l.Pipeline.Name, Profile: l.Name, Version: p.Version.String(),
		KernelRelease: p.KernelRelease, Branch: p.Branch, Tag: p.Tag, InputsDigest: p.InputsDigest, Started: time.Now().UTC(),
		Upstream: manifest.Upstream{Release: p.Release.String(), Tag: p.Release.Tag(), GitURL: l.Upstream.Git},
	}
	r.m = m
	r.report()
	return m
}

// Fetch runs only the fetch and patch stages, for a source tree without a build, and returns the
// tree's path. It writes no manifest.
func Fetch(ctx context.Context, p *Plan, opts Options) (string, error) {
	r := newRun(p, opts, inFetch)
	// The source tree is moved in place: not while a run builds from it.
	unlock, err := lockWorkDir(r.opts.WorkDir, "fetch")
	if err != nil {
		return "", err
	}
	defer unlock()
	if err := r.walk(ctx, r.exec); err != nil {
		return "", err
	}
	return r.st.src, nil
}

// Configure runs fetch, patch and configure for every arch, and returns each arch's .config.
// It writes no manifest and builds nothing.
func Configure(ctx context.Context, p *Plan, opts Options) ([]string, error) {
	r := newRun(p, opts, inConfigure)
	unlock, err := lockWorkDir(r.opts.WorkDir, "configure")
	if err != nil {
		return nil, err
	}
	defer unlock()
	defer r.close()
	if err := r.walk(ctx, r.exec); err != nil {
		return nil, err
	}
	var configs []string
	for _, ar := range r.arches {
		configs = append(configs, dotconfig(ar))
	}
	return configs, nil
}

// RefreshPatches applies the series to the plan's release and rewrites it for that base: hunk
// headers where the hunks now apply, upstreamed patches dropped. With write false it only
// reports. The source tree is not touched.
func RefreshPatches(ctx context.Context, p *Plan, opts Options, write bool) (*patch.Refreshed, error) {
	prof := p.Line.Profile
	if prof.Patches == "" {
		return nil, fmt.Errorf("profile %s has no patch series", p.Line.Name)
	}
	r := newRun(p, opts, inRefresh)
	if err := r.walk(ctx, r.exec); err != nil {
		return nil, err
	}
	series, commits, err := r.readSeries()
	if err != nil {
		return nil, err
	}
	res, err := r.applySeries(ctx, commits, false)
	if err != nil {
		return nil, fmt.Errorf("the series does not apply to %s, so it cannot be refreshed automatically: %w", p.Release.Tag(), err)
	}
	ref, err := patch.Refresh(prof.Patches, series, commits, res, p.Release.Tag())
	if err != nil {
		return nil, err
	}
	if write && ref.Changed() {
		if err := ref.Write(); err != nil {
			return nil, err
		}
	}
	return ref, nil
}

// repositoryInputs hashes everything the line reads from the repository, for the manifest: the
// fragments every arch merges, then each arch's own base file and fragments (features and
// arch_fragments) under its name.
func repositoryInputs(l *config.Line) ([]manifest.File, error) {
	type input struct{ name, arch, path string }
	prof := l.Profile
	ins := []input{{"pipeline", "", l.Pipeline.File}}
	for _, f := range prof.Config.Fragments {
		ins = append(ins, input{"fragment", "", f})
	}
	for _, a := range prof.Arches {
		if base := prof.Config.BaseFor(a); !config.IsMakeTarget(base) {
			ins = append(ins, input{"config-base", a, base})
		}
		for _, f := range prof.Config.FragmentsFor(a)[len(prof.Config.Fragments):] {
			ins = append(ins, input{"fragment", a, f})
		}
	}
	if prof.Patches != "" {
		ins = append(ins, input{"series", "", prof.Patches})
		entries, err := patch.ReadSeries(prof.Patches)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			ins = append(ins, input{"patch", "", e.Path})
		}
	}
	ins = append(ins, input{"initrd-spec", "", prof.Initrd.Spec})
	var files []manifest.File
	for _, in := range ins {
		f, err := manifest.Describe(in.name, in.arch, in.path)
		if err != nil {
			return nil, err
		}
		f.Path = l.Pipeline.Rel(in.path)
		files = append(files, f)
	}
	return files, nil
}
