package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The assemble stage (kbuild assemble only) takes an arch's outputs from the run that built it
// (kbuild run --arch, one CI job per arch), after checking that every run gathered was built
// from this very release, and carries over its build, boot and stage records.

func assembleBody(_ context.Context, r *run, ar *archRun) (outcome, error) {
	if len(r.parts) == 0 {
		return outcome{}, errors.New("no runs to assemble: name the output folders of kbuild run --arch")
	}
	var from *manifest.Manifest
	dir := ""
	for _, part := range r.parts {
		m, err := r.checkPart(part)
		if err != nil {
			return outcome{}, err
		}
		if from == nil && manifest.ForArch(m.Builds, ar.a.Name) != nil {
			from, dir = m, part
		}
	}
	if from == nil {
		return outcome{}, fmt.Errorf("none of %s built %s", strings.Join(r.parts, ", "), ar.a.Name)
	}
	return r.takeArch(dir, from, ar)
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
		{"upstream commit", m.Upstream.Commit, r.st.upstream.Commit},
		{"inputs digest (patches and configs)", m.InputsDigest, r.m.InputsDigest},
		{"branch head", m.BranchHead, r.st.branchHead},
	} {
		if c.theirs != c.ours {
			return nil, fmt.Errorf("assemble: %s has %s %s, this release %s: every arch must be built from the same pipeline commit and upstream release", dir, c.what, c.theirs, c.ours)
		}
	}
	return m, nil
}

// takeArch copies one arch's outputs from a part (each checked against the part's manifest),
// and carries over the arch's build, boot and stage records.
func (r *run) takeArch(dir string, m *manifest.Manifest, ar *archRun) (outcome, error) {
	var out outcome
	var names []string
	for _, o := range m.Outputs {
		if o.Arch != ar.a.Name {
			continue
		}
		src := filepath.Join(dir, o.Path)
		got, err := manifest.Describe(o.Name, ar.a.Name, src)
		if err != nil {
			return out, err
		}
		if got.SHA256 != o.SHA256 {
			return out, fmt.Errorf("%s: sha256 %s, but %s/manifest.json says %s", src, got.SHA256, dir, o.SHA256)
		}
		dest := filepath.Join(r.plan.OutDir, o.Path)
		if err := copyPath(src, dest); err != nil {
			return out, err
		}
		f, err := r.output(o.Name, ar.a.Name, dest)
		if err != nil {
			return out, err
		}
		out.outputs = append(out.outputs, f)
		names = append(names, o.Name)
	}
	for _, log := range []string{"build.log", "console.log", "conformance/console.log"} {
		copyPath(filepath.Join(dir, ar.a.Name, log), filepath.Join(ar.out, log)) // what the job said, if it is there
	}
	r.carryRecords(m, ar, &out)
	out.detail = fmt.Sprintf("%s from %s", strings.Join(names, ", "), dir)
	return out, nil
}

// carryRecords takes the arch's build and boot records and its stages but configure (this run
// configured it itself) from the part.
func (r *run) carryRecords(m *manifest.Manifest, ar *archRun, out *outcome) {
	ar.build = manifest.ForArch(m.Builds, ar.a.Name)
	if ar.boot = manifest.ForArch(m.Boots, ar.a.Name); ar.boot != nil {
		ar.boot.ConsoleLog = filepath.Join(ar.out, "console.log")
	}
	if ar.conformance = manifest.ForArch(m.Conformance, ar.a.Name); ar.conformance != nil {
		ar.conformance.ConsoleLog = filepath.Join(ar.out, "conformance", "console.log")
	}
	for _, st := range m.Stages {
		if st.Arch == ar.a.Name && st.Name != stConfigure {
			out.carried = append(out.carried, st)
		}
	}
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
