package payload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/wslkernel/wslkernel/internal/arch"
	"github.com/wslkernel/wslkernel/internal/moddisk"
	"github.com/wslkernel/wslkernel/internal/runner"
)

// guid is a stable GUID named by parts (a SHA-256 cut to an RFC 4122 version 5-style layout):
// the same release line and arch always give the same upgrade code, the same version the same
// product code.
func guid(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	sum[6] = sum[6]&0x0F | 0x50
	sum[8] = sum[8]&0x3F | 0x80
	return strings.ToUpper(fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16]))
}

// msiSpec is what the WiX source needs.
type msiSpec struct {
	Product, Manufacturer, Version, Description string
	ProductVersion                              string // Version as Windows Installer compares it: msiVersion
	ProductCode, UpgradeCode                    string
	MinWindowsBuild                             int
	Files                                       []msiFile
	Kernel, Modules, Action                     string // the File ids the custom action is handed, and its own
}

type msiFile struct {
	ID, Name, GUID string
	Source         string // relative to the .wxs, as wixl resolves it
}

// The package installs the kernel and modules.vhdx into C:\wsl-kernel\<version>\ (outside the
// user's profile: WSL 2.7.1-2.7.4 attach the modules disk without granting the VM access, and a
// folder made in C:\ inherits read access for every user, which the grant action adds to for
// WSL's readers; an ASCII path, since WSL's
// .wslconfig parser breaks on others; not WSL's own folders, which WSL's updates own) and points
// the installing user's .wslconfig at them through wslconfig-action.exe (cmd/wslconfig-action:
// internal/install's editor, which kbuild install uses, built for Windows), installed beside
// them; it puts the old values back on uninstall. wixl 0.101 cannot express that part
// otherwise: it has no IniFile table, and IniFile could neither double the backslashes WSL needs
// nor restore a replaced value.
//
// Upgrades: the upgrade code is the release line's; MajorUpgrade removes an older version first
// (RemoveExistingProducts right after InstallValidate, pinned there: wixl 0.101 otherwise places
// it by the other actions it is given, after InstallFinalize for this template, where the old
// version's restore would undo the new one's .wslconfig) and refuses a downgrade. Windows Installer compares only the first three ProductVersion fields,
// so the revision is folded into the third (msiVersion). The Windows build comes from the registry
// (CurrentBuildNumber): the WindowsBuild property stops at 9600 on Windows 10 and 11.
//
// The architecture: the package is x64 (wixl 0.101 makes no arm64 package), and Windows on
// arm64 runs x64 installers under emulation, where VersionNT64 is set and no property of Windows
// Installer 5 names the machine's own architecture; the registry's PROCESSOR_ARCHITECTURE (the
// system environment, never redirected for an emulated process) does: AMD64 or ARM64. WSL on
// arm64 cannot boot an x64 kernel, so the package refuses, naming what it found; an absent value
// (no Windows this side of XP) is let through.
//
// The custom actions run the installed program (FileKey: type 18), deferred, and are sequenced
// by number (wixl 0.101 places After=InstallFiles after InstallFinalize). "grant" runs right
// after InstallFiles as LocalSystem (not impersonated: a user may not change the permissions of
// the folder the installer made) and gives BUILTIN\Users and both ALL APPLICATION PACKAGES
// groups read and execute on the install's folder, inherited by its files: WSL 2.7.1 to 2.7.4
// attach the modules disk without granting the VM access (2.7.5 does). "set" and "restore"
// impersonate the installing user, whose .wslconfig they edit: "set" runs last before
// InstallFinalize, "restore" right before RemoveFiles. wixl 0.101 has neither Permission nor
// PermissionEx (LockPermissions, MsiLockPermissionsEx), hence "grant". wixl 0.101 writes no rollback flag, so there is no rollback action:
// a failed "set" (which leaves .wslconfig as it was) fails the install, and the files roll back;
// nothing after it can fail and roll the files back while .wslconfig points at them.
var wxs = template.Must(template.New("wxs").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{{.ProductCode}}" Name="{{x .Product}} {{x .Version}}" Language="1033" Version="{{.ProductVersion}}" Manufacturer="{{x .Manufacturer}}" UpgradeCode="{{.UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="{{x .Description}}"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of {{x .Product}} is already installed: uninstall it first to go back to {{x .Version}}."/>
    <Media Id="1" Cabinet="kernel.cab" EmbedCab="yes"/>
    <Property Id="ARPCOMMENTS" Value="Linux kernel {{x .Version}} for WSL 2, set as kernel= and kernelModules= in .wslconfig"/>
    <Property Id="WSLKERNELVERSION" Value="{{x .Version}}"/>
    <Property Id="WINDOWSBUILD">
      <RegistrySearch Id="CurrentBuildNumber" Root="HKLM" Key="SOFTWARE\Microsoft\Windows NT\CurrentVersion" Name="CurrentBuildNumber" Type="raw" Win64="yes"/>
    </Property>
    <Property Id="NATIVEARCH">
      <RegistrySearch Id="ProcessorArchitecture" Root="HKLM" Key="SYSTEM\CurrentControlSet\Control\Session Manager\Environment" Name="PROCESSOR_ARCHITECTURE" Type="raw" Win64="yes"/>
    </Property>
    <Condition Message="{{x .Product}} needs 64-bit Windows.">Installed OR VersionNT64</Condition>
    <Condition Message="{{x .Product}} {{x .Version}} is the x64 kernel, and this Windows runs on [NATIVEARCH]: WSL boots only a kernel of the machine's own architecture. Install the arm64 kernel (its CAB or NuGet package) instead.">Installed OR NOT NATIVEARCH OR NATIVEARCH~="AMD64"</Condition>
    <Condition Message="{{x .Product}} needs Windows build {{.MinWindowsBuild}} or later.">Installed OR WINDOWSBUILD &gt;= {{.MinWindowsBuild}}</Condition>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="WindowsVolume">
        <Directory Id="WSLKERNELDIR" Name="wsl-kernel">
          <Directory Id="VERSIONDIR" Name="{{x .Version}}">
{{- range .Files}}
            <Component Id="{{.ID}}" Guid="{{.GUID}}" Win64="yes">
              <File Id="{{.ID}}" Name="{{x .Name}}" Source="{{x .Source}}" KeyPath="yes"/>
            </Component>
{{- end}}
          </Directory>
        </Directory>
      </Directory>
    </Directory>
    <Feature Id="Kernel" Level="1">
{{- range .Files}}
      <ComponentRef Id="{{.ID}}"/>
{{- end}}
    </Feature>
    <CustomAction Id="GrantReaders" FileKey="{{.Action}}" ExeCommand="grant {{template "paths" .}}" Execute="deferred" Impersonate="no" Return="check"/>
    <CustomAction Id="SetWslConfig" FileKey="{{.Action}}" ExeCommand="set {{template "paths" .}}" Execute="deferred" Impersonate="yes" Return="check"/>
    <CustomAction Id="RestoreWslConfig" FileKey="{{.Action}}" ExeCommand="restore {{template "paths" .}}" Execute="deferred" Impersonate="yes" Return="check"/>
    <InstallExecuteSequence>
      <RemoveExistingProducts Sequence="1401"/>
      <Custom Action="RestoreWslConfig" Sequence="3499">REMOVE~="ALL"</Custom>
      <Custom Action="GrantReaders" Sequence="4001">NOT REMOVE~="ALL"</Custom>
      <Custom Action="SetWslConfig" Sequence="6500">NOT REMOVE~="ALL"</Custom>
    </InstallExecuteSequence>
  </Product>
</Wix>
{{define "paths"}}-kernel &quot;[#{{.Kernel}}]&quot;{{if .Modules}} -modules &quot;[#{{.Modules}}]&quot;{{end}}{{end}}
`))

// actionName is the custom action's file, installed beside the kernel.
const actionName = "wslconfig-action.exe"

// buildAction builds cmd/wslconfig-action (o.ActionSource) for Windows on the arch into dest,
// byte-reproducibly: no paths (-trimpath), no build ID, no VCS stamp, no cgo; the PE header
// carries no timestamp (Go's linker writes 0). Signed like the payloads when signing is on: an
// unsigned program inside a signed package is what a locked-down machine refuses to run.
func (o *Options) buildAction(ctx context.Context, b *archBuild, dest, desc string) error {
	if o.ActionSource == "" {
		return errors.New("package: the MSI needs its custom action's source (cmd/wslconfig-action), and none was given")
	}
	unsigned, err := filepath.Abs(filepath.Join(b.scratch, "unsigned-"+actionName)) // go build -C reads -o from there
	if err != nil {
		return err
	}
	var out bytes.Buffer
	env := []string{"CGO_ENABLED=0", "GOOS=windows", "GOARCH=" + goArch(b.arch)}
	args := []string{"build", "-C", o.ActionSource, "-trimpath", "-buildvcs=false", "-ldflags=-s -w -buildid=", "-o", unsigned, "."}
	if err := o.Runner.Run(ctx, "go", args, env, &out); err != nil {
		return fmt.Errorf("package: building the MSI's custom action (%s) for Windows %s: %v\n%s", o.ActionSource, b.win, err, out.String())
	}
	if o.Signer == nil {
		return os.Rename(unsigned, dest)
	}
	return o.Signer.Sign(ctx, o.Runner, unsigned, dest, desc, o.when())
}

// msiVersion is version (<x.y.z>.<rev>) as a ProductVersion Windows Installer orders correctly:
// it compares only major.minor.build (at most 255.255.65535), so build is z*100+rev:
// 6.12.118.2 is 6.12.11802. That holds for every kernel so far (z up to 655, rev up to 99).
func msiVersion(version string) (string, error) {
	var x, y, z, rev int
	if n, err := fmt.Sscanf(version, "%d.%d.%d.%d", &x, &y, &z, &rev); n != 4 || err != nil || fmt.Sprintf("%d.%d.%d.%d", x, y, z, rev) != version {
		return "", fmt.Errorf("package: version %q is not <x.y.z>.<rev>, which the MSI's ProductVersion is made from", version)
	}
	if x > 255 || y > 255 || z > 655 || rev < 1 || rev > 99 {
		return "", fmt.Errorf("package: version %s does not fit an MSI ProductVersion (x and y up to 255, z up to 655, rev 1 to 99, encoded as x.y.<z*100+rev>); leave msi out of package.formats", version)
	}
	return fmt.Sprintf("%d.%d.%d", x, y, z*100+rev), nil
}

// makeMSI writes the x64 MSI of files (the kernel and modules.vhdx, or artifacts.vhd) and the
// custom action, which points kernelModules= at the disk.
func (o *Options) makeMSI(ctx context.Context, tmp string, b *archBuild, name, desc string, files []artifact) error {
	rel := o.Release
	pv, err := msiVersion(rel.Version)
	if err != nil {
		return err
	}
	spec := msiSpec{Product: o.Product, Manufacturer: o.Manufacturer, Version: rel.Version, ProductVersion: pv, Description: desc,
		UpgradeCode: guid("upgrade", rel.Line, o.Product, b.win), MinWindowsBuild: o.MinWindowsBuild, Action: "WslConfigAction"}
	spec.ProductCode = guid("product", spec.UpgradeCode, rel.Version)
	action := filepath.Join(b.scratch, actionName)
	if err := o.buildAction(ctx, b, action, desc); err != nil {
		return err
	}
	data, err := os.ReadFile(action)
	if err != nil {
		return err
	}
	ids := map[string]*string{"kernel": &spec.Kernel, "modules.vhdx": &spec.Modules, moddisk.ArtifactsName: &spec.Modules}
	all := append(slices.Clone(files), artifact{name: actionName, data: data})
	for i, f := range all {
		id := fmt.Sprintf("File%d", i)
		if f.name == actionName {
			id = spec.Action
		}
		if p := ids[f.name]; p != nil {
			*p = id
		}
		// Source names the scratch copy; wixl dates the files in the MSI's cabinet by their mtime.
		if err := writeDated(filepath.Join(b.scratch, f.name), f.data, o.when()); err != nil {
			return err
		}
		// A component's GUID goes with its path, which holds the version.
		spec.Files = append(spec.Files, msiFile{ID: id, Name: f.name, Source: f.name, GUID: guid("component", spec.UpgradeCode, rel.Version, f.name)})
	}
	unsigned := filepath.Join(b.scratch, "unsigned.msi")
	if err := buildMSI(ctx, o.Runner, spec, b.scratch, unsigned, o.when()); err != nil {
		return err
	}
	data, err = os.ReadFile(unsigned)
	if err != nil {
		return err
	}
	if err := o.finish(ctx, data, unsigned, filepath.Join(tmp, name), desc); err != nil {
		return err
	}
	b.payloads = append(b.payloads, made{name: name, holds: names(files)})
	return nil
}

// writeDated writes data to path, dated when.
func writeDated(path string, data []byte, when time.Time) error {
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return err
	}
	return os.Chtimes(path, when, when)
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

var revisionLine = regexp.MustCompile(`Revision number \(UUID\): (\{[0-9A-F-]{36}\})`)

// buildMSI writes an MSI of files (name → path) with msitools' wixl. wixl 0.101 stamps the
// package with the current time and a random package code and reads no SOURCE_DATE_EPOCH, so it
// runs under faketime at when, and the package code it chose is replaced (same length, in the
// summary stream) by one derived from the contents: the same inputs give the same bytes.
func buildMSI(ctx context.Context, run runner.Runner, spec msiSpec, dir, dest string, when time.Time) error {
	var src bytes.Buffer
	if err := wxs.Execute(&src, spec); err != nil {
		return err
	}
	wxsPath := filepath.Join(dir, "kernel.wxs")
	if err := os.WriteFile(wxsPath, src.Bytes(), 0o644); err != nil {
		return err
	}
	var out bytes.Buffer
	at := "@" + when.UTC().Format("2006-01-02 15:04:05")
	args := []string{"-f", at, "wixl", "-a", "x64", "-o", dest, wxsPath}
	if err := run.Run(ctx, "faketime", args, []string{"TZ=UTC"}, &out); err != nil {
		return fmt.Errorf("wixl (msitools) %s: %v\n%s", wxsPath, err, out.String())
	}
	out.Reset()
	if err := run.Run(ctx, "msiinfo", []string{"suminfo", dest}, nil, &out); err != nil {
		return fmt.Errorf("reading the package code of %s: %v\n%s", dest, err, out.String())
	}
	m := revisionLine.FindStringSubmatch(out.String())
	if m == nil {
		return fmt.Errorf("msiinfo suminfo %s shows no package code:\n%s", dest, out.String())
	}
	data, err := os.ReadFile(dest)
	if err != nil {
		return err
	}
	if n := bytes.Count(data, []byte(m[1])); n != 1 {
		return fmt.Errorf("%s: the package code %s occurs %d times, expected once", dest, m[1], n)
	}
	// The code is named by the package's bytes with wixl's random one blanked out.
	blank := []byte("{00000000-0000-0000-0000-000000000000}")
	data = bytes.Replace(data, []byte(m[1]), blank, 1)
	sum := sha256.Sum256(data)
	code := "{" + guid("package", fmt.Sprintf("%x", sum)) + "}"
	return os.WriteFile(dest, bytes.Replace(data, blank, []byte(code), 1), 0o644)
}

// goArch is the GOARCH of an arch the pipeline builds.
func goArch(name string) string {
	a, _ := arch.Lookup(name) // an arch pipeline.yaml's validation took
	return a.GOARCH
}
