// Package publish turns a manifest into a GitHub release: the branch and tag to push and the
// assets to upload, checked against the hashes kbuild recorded.
package publish

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Asset is a file to attach to the release.
type Asset struct {
	Name   string // as shown on the release page
	Path   string
	Size   int64
	SHA256 string
}

// Release is everything a publish would do.
type Release struct {
	Repo, Remote string
	Branch, Tag  string
	Title        string
	Commit       string // the upstream commit the branch starts from
	Assets       []Asset
}

// assetName gives an output its name on the release page. Configs keep Microsoft's names
// (config-wsl, config-wsl-arm64), which users search for.
func assetName(f manifest.File) string {
	switch {
	case f.Name == "payload": // the packages' own names: wsl-kernel-6.12.118.1-x64.cab, …
		return filepath.Base(f.Path)
	case f.Name == "config" && f.Arch == "x86_64":
		return "config-wsl"
	case f.Name == "config":
		return "config-wsl-" + f.Arch
	case f.Arch != "":
		return f.Name + "-" + f.Arch
	}
	return f.Name
}

// FromManifest plans the release of the manifest at path. It refuses a failed run and any output
// whose bytes no longer match what the manifest recorded.
func FromManifest(path string, pub config.Publish) (*Release, error) {
	m, err := manifest.Read(path)
	if err != nil {
		return nil, err
	}
	if m.Status != "ok" {
		return nil, fmt.Errorf("%s: the run failed (%s); nothing to publish", path, m.Error)
	}
	r := &Release{
		Repo: pub.Repo, Remote: pub.Remote, Branch: m.Branch, Tag: m.Tag, Commit: m.Upstream.Commit,
		Title: fmt.Sprintf("WSL2-Linux-Kernel %s", m.Version),
	}
	dir := filepath.Dir(path)
	for _, out := range m.Outputs {
		if out.Name == "headers" {
			continue // a folder, described by its digest: not a release asset
		}
		file := filepath.Join(dir, out.Path)
		now, err := manifest.Describe(out.Name, out.Arch, file)
		if err != nil {
			return nil, fmt.Errorf("%s: output %s: %w", path, out.Path, err)
		}
		if now.SHA256 != out.SHA256 {
			return nil, fmt.Errorf("%s: output %s changed since the build (sha256 %s, manifest says %s)", path, out.Path, now.SHA256, out.SHA256)
		}
		r.Assets = append(r.Assets, Asset{Name: assetName(out), Path: file, Size: now.Size, SHA256: now.SHA256})
	}
	// The checksums over the payloads, and their signature, when the package stage made them.
	for _, name := range []string{"SHA256SUMS", "SHA256SUMS.asc"} {
		file := filepath.Join(dir, "packages", name)
		if d, err := manifest.Describe(name, "", file); err == nil {
			r.Assets = append(r.Assets, Asset{Name: name, Path: file, Size: d.Size, SHA256: d.SHA256})
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	self, err := manifest.Describe("manifest", "", path)
	if err != nil {
		return nil, err
	}
	r.Assets = append(r.Assets, Asset{Name: "manifest.json", Path: path, Size: self.Size, SHA256: self.SHA256})
	return r, nil
}

// PrintDryRun says what publishing would do.
func (r *Release) PrintDryRun(w io.Writer) {
	repo := r.Repo
	if repo == "" {
		repo = "(no publish.repo in pipeline.yaml)"
	}
	fmt.Fprintf(w, "dry run: nothing is pushed or uploaded\n")
	fmt.Fprintf(w, "push     branch %s (patched tree on upstream %s) to %s\n", r.Branch, short(r.Commit), r.Remote)
	fmt.Fprintf(w, "push     tag %s\n", r.Tag)
	fmt.Fprintf(w, "release  %q for tag %s on %s\n", r.Title, r.Tag, repo)
	for _, a := range r.Assets {
		fmt.Fprintf(w, "upload   %-20s %10d bytes  sha256 %s\n", a.Name, a.Size, a.SHA256)
	}
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}
