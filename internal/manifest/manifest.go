// Package manifest is manifest.json: every input and output of a run with its SHA-256 and size,
// what upstream release it was built from and who signed it, and how each stage went.
package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Schema is the manifest format version; bump it on incompatible changes.
const Schema = 1

// Manifest describes one run of one profile.
type Manifest struct {
	Schema        int    `json:"schema"`
	Pipeline      string `json:"pipeline"`
	Profile       string `json:"profile"`
	Version       string `json:"version"`
	KernelRelease string `json:"kernel_release"`
	Branch        string `json:"branch"`
	// BranchHead is the branch's last commit (patches, then the in-tree defconfigs), kept in the
	// upstream mirror under BranchRef; empty for a tarball source, which has no git history.
	BranchHead string `json:"branch_head,omitempty"`
	BranchRef  string `json:"branch_ref,omitempty"`
	// PatchesHead is the branch after the patch series, before the defconfig commit: the commit
	// the source tree (SourceTree) was checked out from.
	PatchesHead string `json:"patches_head,omitempty"`
	SourceTree  string `json:"source_tree,omitempty"`
	Tag         string `json:"tag"`
	// InputsDigest identifies what the release is made of (upstream, patches, configs); kpublish
	// records it in the release tag, where the next run reads it to choose the revision.
	InputsDigest string    `json:"inputs_digest,omitempty"`
	Status       string    `json:"status"` // ok or failed; running while a run is under way (or was killed)
	Error        string    `json:"error,omitempty"`
	Started      time.Time `json:"started"`
	Upstream     Upstream  `json:"upstream"`
	Patches      []Patch   `json:"patches"`
	Inputs       []File    `json:"inputs"`
	Outputs      []File    `json:"outputs"`
	Stages       []Stage   `json:"stages"`
	Builds       []Build   `json:"builds,omitempty"`
	Boots        []Boot    `json:"boots,omitempty"`
	// Conformance is each arch's runtime conformance test: a real userland on the kernel.
	Conformance []Conformance `json:"conformance,omitempty"`
	Reproducer  string        `json:"reproducer"`
}

// Upstream is the release built on.
type Upstream struct {
	Release string `json:"release"`
	Tag     string `json:"tag"`
	// InputsDigest identifies what the release is made of (upstream, patches, configs); kpublish
	// records it in the release tag, where the next run reads it to choose the revision.
	InputsDigest string    `json:"inputs_digest,omitempty"`
	Commit       string    `json:"commit"`
	CommitTime   time.Time `json:"commit_time"`
	GitURL       string    `json:"git_url"`
	Signer       string    `json:"signer,omitempty"` // fingerprint of the tag's signer
	Unsigned     bool      `json:"unsigned,omitempty"`
}

// Patch is one patch of the series.
type Patch struct {
	File       string `json:"file"`
	Subject    string `json:"subject"`
	Author     string `json:"author"`
	Upstreamed string `json:"upstreamed,omitempty"` // the release that already holds it: skipped
}

// File is an input or output.
type File struct {
	Name   string `json:"name"` // what it is: kernel, initrd, config, fragment, …
	Arch   string `json:"arch,omitempty"`
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Stage is how one stage went.
type Stage struct {
	Name    string    `json:"name"`
	Arch    string    `json:"arch,omitempty"`
	Status  string    `json:"status"` // ok, failed, or skipped: up to date, its record carried from the last run
	Seconds float64   `json:"seconds"`
	Detail  string    `json:"detail,omitempty"`
	Started time.Time `json:"started"`
	// Key is a hash of everything the stage read (files, settings, upstream commit, tool versions,
	// the outputs of the stages before it): a later run with the same key and this stage's
	// outputs intact skips it.
	Key string `json:"key,omitempty"`
	// Inputs are those things by name, each with its SHA-256 or value: what status compares.
	Inputs map[string]string `json:"inputs,omitempty"`
	// Product is what the stage left outside the output folder, for that later run to check it is
	// still there: the .config's SHA-256 for configure, the branch head for branch.
	Product string `json:"product,omitempty"`
}

// Build is what one arch's kernel build was made with and how big it came out.
type Build struct {
	Arch         string `json:"arch"`
	Release      string `json:"kernel_release,omitempty"`
	Toolchain    string `json:"toolchain,omitempty"` // compiler and linker, as /proc/version names them
	Commands     int    `json:"commands"`            // kbuild commands run (CC, LD, AR...): the work this build did
	CcacheHits   int    `json:"ccache_hits"`         // compilations of this build served from the cache
	CcacheMisses int    `json:"ccache_misses"`
	ImageBytes   int64  `json:"image_bytes,omitempty"` // bzImage or Image
	VmlinuxText  uint64 `json:"vmlinux_text,omitempty"`
	VmlinuxData  uint64 `json:"vmlinux_data,omitempty"`
	VmlinuxBSS   uint64 `json:"vmlinux_bss,omitempty"`
	// ModulesDigest is a SHA-256 over the installed modules tree (paths, contents, links), which
	// is reproducible where modules.vhdx is not.
	ModulesDigest string `json:"modules_digest,omitempty"`
	BootModule    string `json:"boot_module,omitempty"` // the module the boot test loads from modules.vhdx
}

// Boot is one boot test.
type Boot struct {
	Arch        string  `json:"arch"`
	Release     string  `json:"release"`
	Module      string  `json:"module_loaded,omitempty"` // loaded by the init from modules.vhdx
	InitSeconds float64 `json:"time_to_init_seconds"`
	WallSeconds float64 `json:"wall_seconds"`
	ConsoleLog  string  `json:"console_log"`
}

// Conformance is one conformance boot: the kernel under a Debian userland with systemd, one
// probe per feature.
type Conformance struct {
	Arch             string  `json:"arch"`
	Release          string  `json:"release"`
	InitSeconds      float64 `json:"time_to_init_seconds"`       // systemd started as PID 1
	MultiUserSeconds float64 `json:"time_to_multi_user_seconds"` // multi-user.target reached
	WallSeconds      float64 `json:"wall_seconds"`
	ConsoleLog       string  `json:"console_log"`
	Probes           []Probe `json:"probes"`
}

// Probe is one conformance probe's result.
type Probe struct {
	Feature string  `json:"feature"` // as configs/features/<feature>.config names it
	Name    string  `json:"probe"`
	Status  string  `json:"status"` // pass, fail or timeout
	Seconds float64 `json:"seconds"`
	Output  string  `json:"output,omitempty"` // the tail of what it printed, for one that did not pass
}

// Describe hashes a file, or a folder by its TreeDigest (the installed headers).
func Describe(name, arch, path string) (File, error) {
	if info, err := os.Stat(path); err == nil && info.IsDir() {
		digest, size, err := TreeDigest(path)
		if err != nil {
			return File{}, err
		}
		return File{Name: name, Arch: arch, Path: path, Size: size, SHA256: digest}, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", path, err)
	}
	return File{Name: name, Arch: arch, Path: path, Size: n, SHA256: hex.EncodeToString(h.Sum(nil))}, nil
}

// Write saves the manifest atomically: a temporary file, fsynced, renamed over the final name.
func (m *Manifest) Write(path string) error {
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'), 0o644)
}

// Read loads a manifest, refusing one of another schema.
func Read(path string) (*Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if m.Schema != Schema {
		return nil, fmt.Errorf("%s: manifest schema %d, this tool reads %d", path, m.Schema, Schema)
	}
	return &m, nil
}

// TreeDigest is a SHA-256 over a folder: every path in order with its type and contents (a
// link's target), and the total size of its files. It stands for a tree in the manifest: the
// installed modules (modules.vhdx itself is not byte-reproducible: e2fsprogs varies a few bytes
// per run) and the UAPI headers.
func TreeDigest(dir string) (digest string, size int64, err error) {
	h := sha256.New()
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			if err != nil {
				return err
			}
			fmt.Fprintf(h, "link %s %s\n", rel, target)
		case d.IsDir():
			fmt.Fprintf(h, "dir %s\n", rel)
		default:
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			size += int64(len(data))
			fmt.Fprintf(h, "file %s %d %x\n", rel, len(data), sha256.Sum256(data))
		}
		return nil
	})
	return hex.EncodeToString(h.Sum(nil)), size, err
}

// Previous finds the newest successful run below current among the runs of one profile
// (profileOut is out/<profile>, each run in a folder named by its version), or nil.
func Previous(profileOut string, current version.Version) (*Manifest, string) {
	entries, _ := os.ReadDir(profileOut)
	var best *Manifest
	var bestVersion version.Version
	bestDir := ""
	for _, e := range entries {
		v, err := version.ParseVersion(e.Name())
		if err != nil || !e.IsDir() || v.Compare(current) >= 0 || (best != nil && v.Compare(bestVersion) <= 0) {
			continue
		}
		dir := filepath.Join(profileOut, e.Name())
		if m, err := Read(filepath.Join(dir, "manifest.json")); err == nil && m.Status == "ok" && m.Version == e.Name() {
			best, bestVersion, bestDir = m, v, dir
		}
	}
	return best, bestDir
}

// LatestRun is the newest successful run of a profile in the work dir: its manifest and folder.
// kpublish publishes it and kbuild install installs it when no manifest is named.
func LatestRun(workDir, profile string) (*Manifest, string, error) {
	top := version.Version{Upstream: version.Release{Major: 1 << 30}}
	m, dir := Previous(filepath.Join(workDir, "out", profile), top)
	if m == nil {
		return nil, "", fmt.Errorf("no successful build of profile %s in %s: build one first (kbuild run, or kbuild custom)", profile, workDir)
	}
	return m, dir, nil
}

// ArchRecord is a record kept once per arch: a build, a boot or a conformance run.
type ArchRecord interface{ ArchName() string }

// ArchName is the arch the build is for.
func (b Build) ArchName() string { return b.Arch }

// ArchName is the arch the boot was for.
func (b Boot) ArchName() string { return b.Arch }

// ArchName is the arch the conformance run was for.
func (c Conformance) ArchName() string { return c.Arch }

// ForArch is a copy of the record in list for arch (the last, should there be several), or nil.
func ForArch[T ArchRecord](list []T, arch string) *T {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i].ArchName() == arch {
			rec := list[i]
			return &rec
		}
	}
	return nil
}
