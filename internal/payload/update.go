// Package payload makes the Windows payloads a kernel reaches users in: per arch a signed CAB and
// MSI holding the kernel, initrd.img, modules.vhd, the config and update.json; a NuGet package
// shaped like Microsoft.WSL.Kernel; and SHA256SUMS over all of them (with an OpenPGP signature
// when a key is configured).
package payload

// UpdateSchema is the version of update.json's format; bump it on incompatible changes.
const UpdateSchema = 1

// Update is update.json: what a payload holds and where Windows installs it.
//
//	{
//	  "schema": 1,
//	  "product": "Windows Subsystem for Linux Kernel",
//	  "version": "6.12.118.1",                 // <x.y.z>.<rev>
//	  "arch": "x64",                           // Windows' name: x64 or arm64
//	  "kernel_release": "6.12.118.1-microsoft-standard-WSL2",
//	  "min_windows_build": 19041,
//	  "upstream": {"tag": "v6.12.118", "commit": "…", "signer": "<OpenPGP fingerprint>"},
//	  "supersedes": "6.12.117.1",              // the version this one replaces; "" for the first
//	  "rollback": "kernel.rollback",           // where an installer keeps the superseded kernel
//	  "signed": true,                          // false: Authenticode signing was off
//	  "files": [{"name": "kernel", "size": 1393664, "sha256": "…",
//	             "install_path": "%SystemRoot%\\System32\\lxss\\tools\\kernel"}, …]
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
	Rollback        string       `json:"rollback"`
	Signed          bool         `json:"signed"`
	Files           []UpdateFile `json:"files"`
}

// UpdateSource is the upstream release the kernel was built from.
type UpdateSource struct {
	Tag    string `json:"tag"`
	Commit string `json:"commit"`
	Signer string `json:"signer,omitempty"`
}

// UpdateFile is one installed file.
type UpdateFile struct {
	Name        string `json:"name"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	InstallPath string `json:"install_path"`
}

// ToolsDir is where the inbox WSL keeps its kernel; files install there under their names.
const ToolsDir = `%SystemRoot%\System32\lxss\tools`

// RollbackName is the name an installer gives the kernel it replaces.
const RollbackName = "kernel.rollback"

// WindowsArch is Windows' name for one of ours.
func WindowsArch(arch string) string {
	if arch == "x86_64" {
		return "x64"
	}
	return arch
}
