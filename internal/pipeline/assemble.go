package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

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
	return runWith(ctx, p, opts, "assemble", func(r *run, arches []*archRun) error {
		var ms []*manifest.Manifest
		for _, dir := range parts {
			m, err := r.checkPart(dir)
			if err != nil {
				return err
			}
			ms = append(ms, m)
		}
		for _, ar := range arches {
			err := r.stage("assemble", ar.a.Name, func() (string, error) {
				for i, m := range ms {
					if slices.ContainsFunc(m.Builds, func(b manifest.Build) bool { return b.Arch == ar.a.Name }) {
						return r.takeArch(parts[i], m, ar.a.Name)
					}
				}
				return "", fmt.Errorf("none of %s built %s", strings.Join(parts, ", "), ar.a.Name)
			})
			if err != nil {
				return err
			}
		}
		if len(p.Line.Profile.Package.Formats) == 0 {
			return nil
		}
		return r.packageStage(ctx)
	})
}

// checkPart reads a part's manifest and checks it is a successful run of this very release.
func (r *run) checkPart(dir string) (*manifest.Manifest, error) {
	m, err := manifest.Read(filepath.Join(dir, "manifest.json"))
	if err != nil {
		return nil, fmt.Errorf("assemble: %w", err)
	}
	if m.Status != "ok" {
		return nil, fmt.Errorf("assemble: %s is a run that did not succeed (%s): %s", dir, m.Status, firstLine(m.Error))
	}
	for _, c := range []struct{ what, theirs, ours string }{
		{"profile", m.Profile, r.m.Profile},
		{"version", m.Version, r.m.Version},
		{"upstream commit", m.Upstream.Commit, r.m.Upstream.Commit},
		{"inputs digest (patches and configs)", m.InputsDigest, r.m.InputsDigest},
		{"branch head", m.BranchHead, r.m.BranchHead},
	} {
		if c.theirs != c.ours {
			return nil, fmt.Errorf("assemble: %s has %s %s, this release %s: every arch must be built from the same pipeline commit and upstream release", dir, c.what, c.theirs, c.ours)
		}
	}
	return m, nil
}

// takeArch copies one arch's outputs from a part (each checked against the part's manifest),
// records them, and carries over the arch's build, boot and stage records.
func (r *run) takeArch(dir string, m *manifest.Manifest, arch string) (string, error) {
	var names []string
	for _, o := range m.Outputs {
		if o.Arch != arch {
			continue
		}
		src := filepath.Join(dir, o.Path)
		got, err := manifest.Describe(o.Name, arch, src)
		if err != nil {
			return "", err
		}
		if got.SHA256 != o.SHA256 {
			return "", fmt.Errorf("%s: sha256 %s, but %s/manifest.json says %s", src, got.SHA256, dir, o.SHA256)
		}
		dest := filepath.Join(r.plan.OutDir, o.Path)
		if err := copyPath(src, dest); err != nil {
			return "", err
		}
		if _, err := r.output(o.Name, arch, dest); err != nil {
			return "", err
		}
		names = append(names, o.Name)
	}
	for _, log := range []string{"build.log", "console.log"} {
		copyPath(filepath.Join(dir, arch, log), filepath.Join(r.plan.OutDir, arch, log)) // what the job said, if it is there
	}
	r.record(func() {
		for _, b := range m.Builds {
			if b.Arch == arch {
				r.m.Builds = append(r.m.Builds, b)
			}
		}
		for _, b := range m.Boots {
			if b.Arch == arch {
				b.ConsoleLog = filepath.Join(r.plan.OutDir, arch, "console.log")
				r.m.Boots = append(r.m.Boots, b)
			}
		}
		for _, st := range m.Stages {
			if st.Arch == arch && st.Name != "configure" {
				r.m.Stages = append(r.m.Stages, st)
			}
		}
	})
	return fmt.Sprintf("%s from %s", strings.Join(names, ", "), dir), nil
}

// copyPath copies a file, or a folder and everything in it, to dest, replacing what was there;
// a file appears only when complete.
func copyPath(src, dest string) error {
	info, err := os.Stat(src)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
			return err
		}
		return atomicfile.Copy(src, dest, 0o644)
	}
	tmp := dest + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	err = filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(tmp, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(target, to)
		default:
			return atomicfile.Copy(path, to, 0o644)
		}
	})
	if err != nil {
		os.RemoveAll(tmp)
		return err
	}
	if err := os.RemoveAll(dest); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}
