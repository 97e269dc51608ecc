package payload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"
	"time"

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
	ProductCode, UpgradeCode                    string
	Files                                       []msiFile
}

type msiFile struct {
	ID, Name, GUID string
	Source         string // relative to the .wxs, as wixl resolves it
}

// The package installs into System32\lxss\tools, like "Windows Subsystem for Linux Update"
// (wsl_update_x64.msi). The upgrade code is the release line's, the same for every version, and
// MajorUpgrade removes the older version, so installing a new kernel upgrades the old one.
var wxs = template.Must(template.New("wxs").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="utf-8"?>
<Wix xmlns="http://schemas.microsoft.com/wix/2006/wi">
  <Product Id="{{.ProductCode}}" Name="{{x .Product}}" Language="1033" Version="{{.Version}}" Manufacturer="{{x .Manufacturer}}" UpgradeCode="{{.UpgradeCode}}">
    <Package InstallerVersion="500" Compressed="yes" InstallScope="perMachine" Description="{{x .Description}}"/>
    <MajorUpgrade DowngradeErrorMessage="A newer version of {{x .Product}} is already installed."/>
    <Media Id="1" Cabinet="kernel.cab" EmbedCab="yes"/>
    <Directory Id="TARGETDIR" Name="SourceDir">
      <Directory Id="System64Folder">
        <Directory Id="LXSS" Name="lxss">
          <Directory Id="TOOLS" Name="tools">
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
  </Product>
</Wix>
`))

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
