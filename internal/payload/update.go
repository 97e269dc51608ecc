// Package payload makes the Windows payloads a kernel reaches users in, each holding the kernel
// and its modules disk and nothing else (the initrd is a test artifact, never installed): per
// arch a CAB (kernel, modules.vhdx), for x64 an MSI that installs them under C:\wsl-kernel and
// points .wslconfig at them, a NuGet package shaped like Microsoft.WSL.Kernel (kernel,
// modules.vhd), and beside them update-<arch>.json and SHA256SUMS (with an OpenPGP signature
// when a key is configured). With the artifacts layout (Options.ModulesDisk) each carries
// artifacts.vhd in place of modules.vhdx and modules.vhd.
package payload

import "github.com/wslkernel/wslkernel/internal/arch"

// UpdateSchema is the version of update.json's format; bump it on incompatible changes.
// Schema 2 dropped schema 1's rollback name and install paths, which promised what nothing did.
const UpdateSchema = 2

// Update is update-<arch>.json, a release asset beside the payloads (never inside one): what the
// release is, the files it installs, which payload carries which of them, and how to go back.
//
//	{
//	  "schema": 2,
//	  "product": "Windows Subsystem for Linux Kernel",
//	  "version": "6.12.118.2",                 // <x.y.z>.<rev>
//	  "arch": "x64",                           // Windows' name: x64 or arm64
//	  "kernel_release": "6.12.118.2-microsoft-standard-WSL2",
//	  "min_windows_build": 19041,              // the MSI refuses older builds
//	  "upstream": {"tag": "v6.12.118", "commit": "…", "signer": "<OpenPGP fingerprint>"},
//	  "supersedes": "6.12.118.1",              // the version this one replaces; "" for the first
//	  "signed": true,                          // false: Authenticode signing was off
//	  "files": [{"name": "kernel", "size": 1393664, "sha256": "…"}, …],
//	  "payloads": [{"name": "wsl-kernel-6.12.118.2-x64.cab", "size": …, "sha256": "…",
//	                "holds": ["kernel", "modules.vhdx"]}, …],
//	  "rollback": ["kbuild install --rollback …", "…"]
//	}
type Update struct {
	Schema          int          `json:"schema"`
	Product         string       `json:"product"`
	Version         string       `json:"version"`
	Arch            string       `json:"arch"`
	KernelRelease   string       `json:"kernel_release"`
	MinWindowsBuild int          `json:"min_windows_build"`
	Upstream        UpdateSource `json:"upstream"`
	Supersedes      string       `json:"supersedes"`
	Signed          bool         `json:"signed"`
	Files           []UpdateFile `json:"files"`
	Payloads        []UpdateFile `json:"payloads"`
	Rollback        []string     `json:"rollback"`
}

// UpdateSource is the upstream release the kernel was built from.
type UpdateSource struct {
	Tag    string `json:"tag"`
	Commit string `json:"commit"`
	Signer string `json:"signer,omitempty"`
}

// UpdateFile is one file: a build artifact the payloads carry, or a payload, with the files it
// holds.
type UpdateFile struct {
	Name   string   `json:"name"`
	Size   int64    `json:"size"`
	SHA256 string   `json:"sha256"`
	Holds  []string `json:"holds,omitempty"`
}

// Ways back, as update.json states them: only what exists.
const (
	rollbackKbuild = "kbuild install --rollback: puts back the .wslconfig kernel= and kernelModules= values the last kbuild install replaced"
	rollbackMSI    = "uninstalling the MSI (Settings > Apps, or msiexec /x) puts back the kernel= and kernelModules= values it replaced in .wslconfig; " +
		"to run an older version, uninstall this one, then install the older MSI (Windows Installer refuses a downgrade over a newer version)"
)

// WindowsArch is Windows' name for one of ours.
func WindowsArch(name string) string {
	if a, err := arch.Lookup(name); err == nil {
		return a.Windows
	}
	return name
}
