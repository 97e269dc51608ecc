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
	"sort"
	"strings"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/wslkernel/wslkernel/internal/cab"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/runner"
)

// Options describe the payloads of one run.
type Options struct {
	OutDir          string             // the run's output folder, where manifest.json is
	Manifest        *manifest.Manifest // the run's manifest
	Formats         []string           // cab, msi, nuget
	Product         string             // e.g. Windows Subsystem for Linux Kernel
	Manufacturer    string             // the MSI's and NuGet's author
	NugetID         string             // default Microsoft.WSL.Kernel
	MinWindowsBuild int                // default 19041
	Supersedes      string             // the version this one replaces, if any
	RepoURL         string             // the published source, for the nuspec
	Signer          *Signer            // nil: unsigned, and update.json says so
	OpenPGPKey      string             // an armored private key: SHA256SUMS.asc
	Runner          runner.Runner
}

// Dir is where the payloads go, beside manifest.json.
const Dir = "packages"

// Make writes the payloads into <out>/packages, which appears only when every one of them is
// complete (and signed, when signing is on); an earlier packages folder is replaced. It returns
// the files made, described for the manifest.
func Make(ctx context.Context, o Options) ([]manifest.File, error) {
	m := o.Manifest
	if o.Runner == nil {
		o.Runner = runner.Exec{}
	}
	if o.NugetID == "" {
		o.NugetID = "Microsoft.WSL.Kernel"
	}
	if o.MinWindowsBuild == 0 {
		o.MinWindowsBuild = 19041
	}
	if o.Product == "" {
		o.Product = "Windows Subsystem for Linux Kernel"
	}
	if o.Manufacturer == "" {
		o.Manufacturer = m.Pipeline
	}
	when := m.Upstream.CommitTime
	if when.IsZero() {
		return nil, errors.New("package: the manifest has no upstream commit time to date the payloads with")
	}
	if o.Signer != nil {
		if err := o.Signer.Check(time.Now()); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp(o.OutDir, ".packages-")
	if err != nil {
		return nil, fmt.Errorf("package: the output folder is not writable: %w", err)
	}
	defer os.RemoveAll(tmp)

	var made []string // file names in tmp, the payloads
	var nuget []nugetEntry
	var arches []string
	for _, b := range m.Builds {
		arches = append(arches, b.Arch)
	}
	if len(arches) == 0 {
		return nil, fmt.Errorf("package: %s lists no builds", filepath.Join(o.OutDir, "manifest.json"))
	}
	for _, arch := range arches {
		win := WindowsArch(arch)
		files, err := artifacts(o.OutDir, m, arch)
		if err != nil {
			return nil, err
		}
		up := Update{Schema: UpdateSchema, Product: o.Product, Version: m.Version, Arch: win, KernelRelease: m.KernelRelease,
			MinWindowsBuild: o.MinWindowsBuild, Supersedes: o.Supersedes, Rollback: RollbackName, Signed: o.Signer != nil,
			Upstream: UpdateSource{Tag: m.Upstream.Tag, Commit: m.Upstream.Commit, Signer: m.Upstream.Signer}}
		for _, f := range files {
			up.Files = append(up.Files, UpdateFile{Name: f.name, Size: int64(len(f.data)), SHA256: fmt.Sprintf("%x", sha256.Sum256(f.data)),
				InstallPath: ToolsDir + `\` + f.name})
		}
		updateJSON, err := json.MarshalIndent(up, "", "  ")
		if err != nil {
			return nil, err
		}
		updateJSON = append(updateJSON, '\n')
		files = append(files, artifact{name: "update.json", data: updateJSON})
		archDir := filepath.Join(tmp, "."+arch)
		if err := os.MkdirAll(archDir, 0o755); err != nil {
			return nil, err
		}
		for _, f := range files {
			p := filepath.Join(archDir, f.name)
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				return nil, err
			}
			if err := os.Chtimes(p, when, when); err != nil {
				return nil, err
			}
			nuget = append(nuget, nugetEntry{Name: "build/native/bin/" + win + "/" + f.name, Source: p})
		}
		name := fmt.Sprintf("update-%s.json", win)
		if err := os.WriteFile(filepath.Join(tmp, name), updateJSON, 0o644); err != nil {
			return nil, err
		}
		made = append(made, name)
		base := fmt.Sprintf("wsl-kernel-%s-%s", m.Version, win)
		desc := fmt.Sprintf("%s %s (%s)", o.Product, m.Version, win)
		if slices.Contains(o.Formats, "cab") {
			var buf bytes.Buffer
			var entries []cab.File
			for _, f := range files {
				entries = append(entries, cab.File{Name: f.name, Data: f.data})
			}
			if err := cab.Write(&buf, entries, when.UTC()); err != nil {
				return nil, err
			}
			if err := o.finish(ctx, buf.Bytes(), filepath.Join(archDir, "unsigned.cab"), filepath.Join(tmp, base+".cab"), desc, when); err != nil {
				return nil, err
			}
			made = append(made, base+".cab")
		}
		if slices.Contains(o.Formats, "msi") && arch == "x86_64" { // wixl 0.101 builds x86 and x64 packages only
			spec := msiSpec{Product: o.Product, Manufacturer: o.Manufacturer, Version: m.Version, Description: desc,
				UpgradeCode: guid("upgrade", m.Pipeline, o.Product, win)}
			spec.ProductCode = guid("product", spec.UpgradeCode, m.Version)
			for i, f := range files {
				spec.Files = append(spec.Files, msiFile{ID: fmt.Sprintf("File%d", i), Name: f.name,
					Source: f.name, GUID: guid("component", spec.UpgradeCode, f.name)})
			}
			unsigned := filepath.Join(archDir, "unsigned.msi")
			if err := buildMSI(ctx, o.Runner, spec, archDir, unsigned, when); err != nil {
				return nil, err
			}
			data, err := os.ReadFile(unsigned)
			if err != nil {
				return nil, err
			}
			if err := o.finish(ctx, data, unsigned, filepath.Join(tmp, base+".msi"), desc, when); err != nil {
				return nil, err
			}
			made = append(made, base+".msi")
		}
	}
	if slices.Contains(o.Formats, "nuget") {
		version := m.Version + "-1"
		name := fmt.Sprintf("%s.%s.nupkg", o.NugetID, version)
		var buf bytes.Buffer
		spec := nuspecData{ID: o.NugetID, Version: version, Title: o.Product, Authors: o.Manufacturer,
			Description: fmt.Sprintf("%s %s (%s), built from %s %s, for %s.", o.Product, m.Version, m.KernelRelease, m.Upstream.Tag, m.Upstream.Commit, strings.Join(arches, " and ")),
			RepoURL:     o.RepoURL, Branch: m.Branch, Commit: m.BranchHead}
		if err := writeNupkg(&buf, spec, nuget, when); err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(tmp, name), buf.Bytes(), 0o644); err != nil {
			return nil, err
		}
		made = append(made, name)
	}
	sort.Strings(made)
	var sums bytes.Buffer
	var described []manifest.File
	for _, name := range made {
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
	for _, arch := range arches {
		if err := os.RemoveAll(filepath.Join(tmp, "."+arch)); err != nil {
			return nil, err
		}
	}
	final := filepath.Join(o.OutDir, Dir)
	old := final + ".old"
	os.RemoveAll(old)
	if err := os.Rename(final, old); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, err
	}
	os.RemoveAll(old)
	return described, nil
}

// finish signs data into dest when signing is on (through unsigned, a scratch file), or writes it.
func (o Options) finish(ctx context.Context, data []byte, unsigned, dest, desc string, when time.Time) error {
	if o.Signer == nil {
		return os.WriteFile(dest, data, 0o644)
	}
	if err := os.WriteFile(unsigned, data, 0o644); err != nil {
		return err
	}
	return o.Signer.Sign(ctx, o.Runner, unsigned, dest, desc, when)
}

type artifact struct {
	name string // as installed: kernel, initrd.img, modules.vhd, config
	data []byte
}

// artifacts reads an arch's build outputs, checked against the manifest's hashes.
func artifacts(outDir string, m *manifest.Manifest, arch string) ([]artifact, error) {
	var out []artifact
	for _, want := range []struct{ output, name string }{{"kernel", "kernel"}, {"initrd", "initrd.img"}, {"modules", "modules.vhd"}, {"config", "config"}} {
		i := slices.IndexFunc(m.Outputs, func(f manifest.File) bool { return f.Name == want.output && f.Arch == arch })
		if i < 0 {
			if want.output == "modules" {
				continue // a kernel without modules
			}
			return nil, fmt.Errorf("package: missing build artifact: the manifest lists no %s for %s; run kbuild run first", want.output, arch)
		}
		path := filepath.Join(outDir, m.Outputs[i].Path)
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("package: missing build artifact: %w", err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(data)); got != m.Outputs[i].SHA256 {
			return nil, fmt.Errorf("package: %s changed since the build (sha256 %s, the manifest says %s): run kbuild run again", path, got, m.Outputs[i].SHA256)
		}
		out = append(out, artifact{name: want.name, data: data})
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
