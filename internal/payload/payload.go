package payload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/runner"
)

// Options describe the payloads of one run.
type Options struct {
	OutDir          string   // the run's output folder: the payloads go in its packages folder
	Release         Release  // what the payloads are of
	Builds          []Build  // every arch's build, in the run's order
	Formats         []string // cab, msi, nuget
	Product         string   // e.g. Windows Subsystem for Linux Kernel
	Manufacturer    string   // the MSI's and NuGet's author
	NugetID         string   // default Microsoft.WSL.Kernel
	NugetRevision   int      // the NuGet version's suffix, 6.12.118.1-<n>; default 1
	MinWindowsBuild int      // default 19041
	Supersedes      string   // the version this one replaces, if any
	RepoURL         string   // the published source, for the nuspec
	Signer          *Signer  // nil: unsigned, and update.json says so
	OpenPGPKey      string   // an armored private key: SHA256SUMS.asc
	// ActionSource is the folder of cmd/wslconfig-action, the MSI's custom action, which is
	// built for Windows when the MSI is made (so go must be on PATH); required for msi.
	ActionSource string
	// ModulesDisk is the modules disk's layout: flat (the default: modules.vhdx in the CAB and
	// the MSI, modules.vhd in the NuGet package) or artifacts (artifacts.vhd in all three, the
	// layout WSL's branch for kernel 6.18.40.1 mounts; each build with modules must have one, and
	// it is checked to be laid out for Release.KernelRelease, which needs debugfs).
	ModulesDisk string
	Runner      runner.Runner
}

// The modules disk layouts Options.ModulesDisk names.
const (
	FlatDisk      = "flat"
	ArtifactsDisk = "artifacts"
)

// Dir is where the payloads go, beside manifest.json.
const Dir = "packages"

// Release is what the payloads are of: the run's version and the upstream release it built.
type Release struct {
	Line          string // the pipeline's name: the MSI's upgrade code is made from it
	Version       string // e.g. 6.12.118.1
	KernelRelease string // what uname -r says
	// The upstream release built: its tag, commit and the fingerprint of the tag's signer, and
	// the commit's time, which dates every payload (the same release gives the same bytes).
	Tag, Commit, Signer string
	CommitTime          time.Time
	// The published branch and its head, which the NuGet package names beside RepoURL.
	Branch, BranchHead string
}

// Build is an arch's build outputs a payload may carry. The initrd and config are never carried.
type Build struct {
	Arch   string
	Kernel File // the kernel image, which every build has
	// The modules disk in both forms, which a kernel without modules has neither of: the VHDX
	// for the CAB and MSI, the fixed VHD for the NuGet package.
	ModulesVHDX, ModulesVHD File
	// Artifacts is artifacts.vhd (moddisk.MakeArtifacts), which every payload carries in place
	// of the flat disks when Options.ModulesDisk is artifacts; unread otherwise.
	Artifacts File
}

// File is a build output: where it is, and the SHA-256 its build recorded, which it must still have.
type File struct{ Path, SHA256 string }

// archBuild is one arch's build files and what has been made of them so far.
type archBuild struct {
	arch, win string
	files     []artifact // kernel, then modules.vhdx and modules.vhd when the kernel has modules
	scratch   string     // a folder of tmp for the arch's sources and unsigned payloads
	payloads  []made
}

// made is a payload written, with the build files it carries.
type made struct {
	name  string
	holds []string
}

// Make writes the payloads into <out>/packages, which appears only when every one of them is
// complete (and signed, when signing is on); an earlier packages folder is replaced. It returns
// the files made, described for the manifest.
func Make(ctx context.Context, o Options) ([]manifest.File, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	builds, err := o.read(ctx)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(o.OutDir, ".packages-")
	if err != nil {
		return nil, fmt.Errorf("package: the output folder is not writable: %w", err)
	}
	defer os.RemoveAll(tmp)
	for _, b := range builds {
		if err := o.makeArch(ctx, tmp, b); err != nil {
			return nil, err
		}
	}
	if slices.Contains(o.Formats, "nuget") {
		if err := o.makeNuget(tmp, builds); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, b := range builds {
		if err := os.RemoveAll(b.scratch); err != nil {
			return nil, err
		}
		name, err := o.writeUpdate(tmp, b)
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		for _, p := range b.payloads {
			names = append(names, p.name)
		}
	}
	described, err := o.seal(tmp, names)
	if err != nil {
		return nil, err
	}
	return described, replaceDir(tmp, filepath.Join(o.OutDir, Dir))
}

// defaults fills in what was left unset and checks the signer before anything is written.
func (o *Options) defaults() error {
	if o.Runner == nil {
		o.Runner = runner.Exec{}
	}
	if o.NugetID == "" {
		o.NugetID = "Microsoft.WSL.Kernel"
	}
	if o.NugetRevision == 0 {
		o.NugetRevision = 1
	}
	if o.NugetRevision < 0 {
		return fmt.Errorf("package: the NuGet revision is %d; it must be 1 or more (package.nuget_revision)", o.NugetRevision)
	}
	if o.MinWindowsBuild == 0 {
		o.MinWindowsBuild = 19041
	}
	switch o.ModulesDisk {
	case "":
		o.ModulesDisk = FlatDisk
	case FlatDisk, ArtifactsDisk:
	default:
		return fmt.Errorf("package: modules disk layout %q: want %s or %s (package.modules_disk)", o.ModulesDisk, FlatDisk, ArtifactsDisk)
	}
	if o.Product == "" {
		o.Product = "Windows Subsystem for Linux Kernel"
	}
	if o.Manufacturer == "" {
		o.Manufacturer = o.Release.Line
	}
	if o.Release.CommitTime.IsZero() {
		return errors.New("package: the release has no upstream commit time to date the payloads with")
	}
	if o.Signer != nil {
		return o.Signer.Check(time.Now())
	}
	return nil
}

// when dates every payload: the upstream commit's time, so the same release gives the same bytes.
func (o *Options) when() time.Time { return o.Release.CommitTime.UTC() }

// read gathers every arch's build files, checked against what the builds recorded, and with the
// artifacts layout, that WSL would mount each artifacts.vhd for this kernel.
func (o *Options) read(ctx context.Context) ([]*archBuild, error) {
	if len(o.Builds) == 0 {
		return nil, errors.New("package: the run has no builds to package; run kbuild run first")
	}
	var builds []*archBuild
	for _, b := range o.Builds {
		files, err := b.artifacts(o.ModulesDisk)
		if err != nil {
			return nil, err
		}
		if b.Artifacts.Path != "" && o.ModulesDisk == ArtifactsDisk {
			if err := moddisk.CheckArtifacts(ctx, o.Runner, b.Artifacts.Path, o.Release.KernelRelease); err != nil {
				return nil, fmt.Errorf("package: %s is not a disk WSL would mount for this kernel, so it is not packaged: %w", moddisk.ArtifactsName, err)
			}
		}
		builds = append(builds, &archBuild{arch: b.Arch, win: WindowsArch(b.Arch), files: files})
	}
	return builds, nil
}

// makeArch writes an arch's CAB and, for x64, its MSI.
func (o *Options) makeArch(ctx context.Context, tmp string, b *archBuild) error {
	b.scratch = filepath.Join(tmp, "."+b.arch)
	if err := os.MkdirAll(b.scratch, 0o755); err != nil {
		return err
	}
	base := fmt.Sprintf("wsl-kernel-%s-%s", o.Release.Version, b.win)
	desc := fmt.Sprintf("%s %s (%s)", o.Product, o.Release.Version, b.win)
	installed := b.pick("kernel", o.modulesDisk("modules.vhdx"))
	if slices.Contains(o.Formats, "cab") {
		if err := o.makeCAB(ctx, tmp, b, base+".cab", desc, installed); err != nil {
			return err
		}
	}
	// wixl 0.101 builds x86 and x64 packages only, so arm64 gets no MSI.
	if slices.Contains(o.Formats, "msi") && b.arch == "x86_64" {
		if err := o.makeMSI(ctx, tmp, b, base+".msi", desc, installed); err != nil {
			return err
		}
	}
	return nil
}

// finish signs data into dest when signing is on (through unsigned, a scratch file), or writes it.
func (o *Options) finish(ctx context.Context, data []byte, unsigned, dest, desc string) error {
	if o.Signer == nil {
		return os.WriteFile(dest, data, 0o644)
	}
	if err := os.WriteFile(unsigned, data, 0o644); err != nil {
		return err
	}
	return o.Signer.Sign(ctx, o.Runner, unsigned, dest, desc, o.when())
}

// writeUpdate writes update-<arch>.json into tmp, describing the payloads already made there.
func (o *Options) writeUpdate(tmp string, b *archBuild) (string, error) {
	rel := o.Release
	up := Update{Schema: UpdateSchema, Product: o.Product, Version: rel.Version, Arch: b.win, KernelRelease: rel.KernelRelease,
		MinWindowsBuild: o.MinWindowsBuild, Supersedes: o.Supersedes, Signed: o.Signer != nil,
		Upstream: UpdateSource{Tag: rel.Tag, Commit: rel.Commit, Signer: rel.Signer},
		Files:    []UpdateFile{}, Payloads: []UpdateFile{}, Rollback: []string{rollbackKbuild}}
	for _, f := range b.files {
		up.Files = append(up.Files, UpdateFile{Name: f.name, Size: int64(len(f.data)), SHA256: fmt.Sprintf("%x", sha256.Sum256(f.data))})
	}
	for _, p := range b.payloads {
		f, err := manifest.Describe("", "", filepath.Join(tmp, p.name))
		if err != nil {
			return "", err
		}
		up.Payloads = append(up.Payloads, UpdateFile{Name: p.name, Size: f.Size, SHA256: f.SHA256, Holds: p.holds})
		if filepath.Ext(p.name) == ".msi" {
			up.Rollback = append(up.Rollback, rollbackMSI)
		}
	}
	data, err := json.MarshalIndent(up, "", "  ")
	if err != nil {
		return "", err
	}
	name := fmt.Sprintf("update-%s.json", b.win)
	return name, os.WriteFile(filepath.Join(tmp, name), append(data, '\n'), 0o644)
}

// seal writes SHA256SUMS over names (and its OpenPGP signature) and describes them for the
// manifest, sorted, each once (the NuGet package is every arch's).
func (o *Options) seal(tmp string, names []string) ([]manifest.File, error) {
	slices.Sort(names)
	names = slices.Compact(names)
	var sums bytes.Buffer
	var described []manifest.File
	for _, name := range names {
		f, err := manifest.Describe("payload", "", filepath.Join(tmp, name))
		if err != nil {
			return nil, err
		}
		f.Path = filepath.Join(Dir, name)
		described = append(described, f)
		fmt.Fprintf(&sums, "%s  %s\n", f.SHA256, name)
	}
	if err := os.WriteFile(filepath.Join(tmp, "SHA256SUMS"), sums.Bytes(), 0o644); err != nil {
		return nil, err
	}
	if o.OpenPGPKey != "" {
		if err := signSums(o.OpenPGPKey, sums.Bytes(), filepath.Join(tmp, "SHA256SUMS.asc")); err != nil {
			return nil, err
		}
	}
	return described, nil
}

// replaceDir puts tmp in final's place, an earlier final moved aside first and removed after.
func replaceDir(tmp, final string) error {
	old := final + ".old"
	os.RemoveAll(old)
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	return os.RemoveAll(old)
}

// modulesDisk is the modules disk a payload carries: flat (modules.vhdx for the CAB and the MSI,
// whose .wslconfig kernelModules= takes it; modules.vhd for the NuGet package, as WSL's MSI build
// takes it), or artifacts.vhd in all three with the artifacts layout.
func (o *Options) modulesDisk(flat string) string {
	if o.ModulesDisk == ArtifactsDisk {
		return moddisk.ArtifactsName
	}
	return flat
}

// artifact is a build file as the payloads carry it.
type artifact struct {
	name string // as carried: kernel, modules.vhdx, modules.vhd, artifacts.vhd
	data []byte
}

// pick is the build's files of those names, in the build's order.
func (b *archBuild) pick(names ...string) []artifact {
	var out []artifact
	for _, f := range b.files {
		if slices.Contains(names, f.name) {
			out = append(out, f)
		}
	}
	return out
}

// artifacts reads the build's files a payload may carry with the layout (the kernel, and its
// modules disk: in both flat forms, or artifacts.vhd), each checked against the SHA-256 its build
// recorded and, for a disk, that WSL can use it.
func (b Build) artifacts(layout string) ([]artifact, error) {
	if b.Kernel.Path == "" {
		return nil, fmt.Errorf("package: missing build artifact: the run has no kernel for %s; run kbuild run first", b.Arch)
	}
	if b.ModulesVHDX.Path != "" && b.ModulesVHD.Path == "" {
		return nil, fmt.Errorf("package: missing build artifact: the run has no modules-vhd for %s; run kbuild run first", b.Arch)
	}
	type named struct {
		name string
		File
	}
	files := []named{{"kernel", b.Kernel}, {"modules.vhdx", b.ModulesVHDX}, {"modules.vhd", b.ModulesVHD}}
	if layout == ArtifactsDisk {
		if b.ModulesVHDX.Path != "" && b.Artifacts.Path == "" {
			return nil, fmt.Errorf("package: missing build artifact: package.modules_disk is artifacts, and the run has no %s for %s (it was built before the setting): run kbuild run again", moddisk.ArtifactsName, b.Arch)
		}
		files = []named{files[0], {moddisk.ArtifactsName, b.Artifacts}}
	}
	var out []artifact
	for _, f := range files {
		if f.Path == "" {
			continue // a kernel without modules
		}
		data, err := os.ReadFile(f.Path)
		if err != nil {
			return nil, fmt.Errorf("package: missing build artifact: %w", err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); got != f.SHA256 {
			return nil, fmt.Errorf("package: %s changed since the build (sha256 %s, the build recorded %s): run kbuild run again", f.Path, got, f.SHA256)
		}
		if err := checkDisk(f.Path, f.name, data); err != nil {
			return nil, err
		}
		out = append(out, artifact{name: f.name, data: data})
	}
	return out, nil
}

// signSums writes an armored detached OpenPGP signature of SHA256SUMS with the key in keyFile.
func signSums(keyFile string, sums []byte, dest string) error {
	f, err := os.Open(keyFile)
	if err != nil {
		return fmt.Errorf("package: OpenPGP key: %w", err)
	}
	defer f.Close()
	keys, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return fmt.Errorf("package: OpenPGP key %s: %w", keyFile, err)
	}
	if len(keys) == 0 || keys[0].PrivateKey == nil {
		return fmt.Errorf("package: OpenPGP key %s holds no private key", keyFile)
	}
	if keys[0].PrivateKey.Encrypted {
		return fmt.Errorf("package: OpenPGP key %s is passphrase-protected; export it unprotected for the signing machine", keyFile)
	}
	var sig bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&sig, keys[0], bytes.NewReader(sums), nil); err != nil {
		return err
	}
	return os.WriteFile(dest, sig.Bytes(), 0o644)
}
