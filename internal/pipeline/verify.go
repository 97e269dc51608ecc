package pipeline

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// folderName is a folder of the work dir that kbuild verify may rebuild in.
var folderName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// ErrNotReproducible is wrapped by a verification that found different bytes.
var ErrNotReproducible = errors.New("the build is not reproducible")

// Verification compares the last run's outputs with a second, clean build of the same inputs.
type Verification struct {
	WorkDir string // where the second build was made: another source and build path
	Files   []Compared
}

// Compared is one output of both builds.
type Compared struct {
	Name, Arch string
	Run, Again string // SHA-256 of the run's and of the second build's
	RunPath    string // the run's file (absolute), to compare by hand when they differ
	AgainPath  string
}

// Same reports whether both builds gave the same bytes.
func (c Compared) Same() bool { return c.Run == c.Again }

// Differ lists the outputs that are not byte-identical.
func (v *Verification) Differ() []Compared {
	var bad []Compared
	for _, c := range v.Files {
		if !c.Same() {
			bad = append(bad, c)
		}
	}
	return bad
}

// verified are the outputs compared: every one, the modules disks too (their ext4 image is pinned
// and our own writers make the VHDX and VHD; artifacts.vhd holds the headers' host programs too,
// so it proves those reproducible), and the modules tree through its digest as well.
var verified = []string{outKernel, outConfig, outInitrd, outHeaders, outModules, outModulesVHD, outArtifacts}

// Verify rebuilds what the last run of the plan made (its manifest.json), clean, in another
// directory (work-dir/verify: its own source tree, build trees and compiler cache), and compares
// kernel, config, initrd and the modules tree byte for byte, for the plan's arches (all of the
// run's, or fewer). Nothing is booted or published.
func Verify(ctx context.Context, p *Plan, opts Options) (*Verification, error) {
	orig, unlock, err := onLastRun(p, &opts, "verify")
	defer unlock()
	if err != nil {
		return nil, err
	}
	vopts := opts
	in := opts.VerifyIn
	if in == "" {
		in = "verify"
	}
	if !folderName.MatchString(in) {
		return nil, fmt.Errorf("verify folder %q: a name of letters, digits, - and _ (it goes under the work dir)", in)
	}
	vopts.WorkDir = filepath.Join(opts.WorkDir, in)
	vp := *p
	vp.OutDir = filepath.Join(vopts.WorkDir, "out", p.Line.Name, p.Version.String())
	if opts.Payloads { // the rebuild's payloads supersede what the run's did
		if vp.Supersedes, err = packagedAs(p, orig); err != nil {
			return nil, err
		}
	}
	// Clean: no build tree, no outputs left from an earlier verification.
	for _, dir := range []string{treeDir(vopts.WorkDir, p.Line, "build"), vp.OutDir} {
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(vp.OutDir, 0o755); err != nil {
		return nil, err
	}
	r := newRun(&vp, vopts, inVerify)
	r.keepRefs, r.ccacheDir = true, filepath.Join(opts.CacheDir, "ccache-"+in)
	r.m = r.newManifest()
	for _, ar := range r.arches {
		ar.tree.CcacheDir = r.ccacheDir
		if opts.VerifyUncached {
			ar.tree.Wrapper = uncached(ar.tree.Wrapper)
		}
	}
	defer r.close()
	err = r.walk(ctx, func(ctx context.Context, s *stage, ar *archRun) error {
		if err := r.exec(ctx, s, ar); err != nil || s.name != stFetch {
			return err
		}
		if got := r.st.upstream.Commit; got != orig.Upstream.Commit {
			return fmt.Errorf("%s now names commit %s; the run built %s: run again before verifying", p.Release.Tag(), got, orig.Upstream.Commit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return r.compare(p, orig, vopts.WorkDir)
}

// uncached is the compiler wrapper that compiles what wrapper does, without a compiler cache.
// (The build's key still names the profile's wrapper: the rebuild must package what the run did.)
func uncached(wrapper string) string {
	switch wrapper {
	case "ccache+distcc", "distcc":
		return "distcc"
	}
	return "none"
}

// packagedAs is what the run's package stage superseded, for the rebuild's payloads to say the
// same; the run must have packaged every arch.
func packagedAs(p *Plan, orig *manifest.Manifest) (string, error) {
	rec := stageRecord(orig, stPackage, "")
	if rec == nil || rec.Status == "failed" {
		return "", fmt.Errorf("--payloads: the last run of %s packaged nothing to compare with", p.Version)
	}
	if len(p.Arches) < len(p.Line.Profile.Arches) {
		return "", fmt.Errorf("--payloads needs every arch of profile %s (the payloads hold them all): drop --arch", p.Line.Name)
	}
	return rec.Inputs["supersedes"], nil
}

// compare compares the run's outputs with the second build's.
func (r *run) compare(p *Plan, orig *manifest.Manifest, workDir string) (*Verification, error) {
	vp := r.plan
	built := map[string]bool{}
	for _, a := range p.Arches {
		built[a.Name] = true
	}
	v := &Verification{WorkDir: workDir}
	for _, want := range orig.Outputs {
		payload := want.Name == outPayload && r.opts.Payloads
		if !payload && (!slices.Contains(verified, want.Name) || !built[want.Arch]) {
			continue
		}
		c := Compared{Name: want.Name, Arch: want.Arch, Run: want.SHA256, RunPath: filepath.Join(p.OutDir, want.Path)}
		if payload {
			c.Name = filepath.Base(want.Path)
		}
		for _, got := range r.st.outputs {
			if got.Name == want.Name && got.Arch == want.Arch && got.Path == want.Path {
				c.Again, c.AgainPath = got.SHA256, filepath.Join(vp.OutDir, got.Path)
			}
		}
		v.Files = append(v.Files, c)
	}
	for _, want := range orig.Builds {
		if want.ModulesDigest == "" || !built[want.Arch] {
			continue
		}
		c := Compared{Name: "modules-tree", Arch: want.Arch, Run: want.ModulesDigest, RunPath: filepath.Join(p.OutDir, want.Arch, "modules.vhdx")}
		if ar := r.archNamed(want.Arch); ar != nil && ar.modulesDigest != "" {
			c.Again, c.AgainPath = ar.modulesDigest, filepath.Join(vp.OutDir, want.Arch, "modules.vhdx")
		}
		v.Files = append(v.Files, c)
	}
	r.m.Status, r.m.Started = "ok", time.Now().UTC()
	r.report()
	if err := r.m.Write(filepath.Join(vp.OutDir, "manifest.json")); err != nil {
		return nil, err
	}
	if bad := v.Differ(); len(bad) > 0 {
		return v, fmt.Errorf("%w: %d of %d outputs differ between %s and %s", ErrNotReproducible, len(bad), len(v.Files), p.OutDir, vp.OutDir)
	}
	return v, nil
}
