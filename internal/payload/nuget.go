package payload

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"text/template"
	"time"
)

// makeNuget writes the NuGet package of every arch, shaped as WSL's MSI build takes
// Microsoft.WSL.Kernel: build/native/bin/<x64|arm64>/ holds exactly kernel and modules.vhd (the
// fixed VHD; modules.vhdx is for .wslconfig), or with the artifacts layout kernel and
// artifacts.vhd, the version suffixed with the NuGet revision.
func (o *Options) makeNuget(tmp string, builds []*archBuild) error {
	rel := o.Release
	version := fmt.Sprintf("%s-%d", rel.Version, o.NugetRevision)
	name := fmt.Sprintf("%s.%s.nupkg", o.NugetID, version)
	var entries []nugetEntry
	var arches []string
	for _, b := range builds {
		arches = append(arches, b.arch)
		files := b.pick("kernel", o.modulesDisk("modules.vhd"))
		for _, f := range files {
			entries = append(entries, nugetEntry{Name: "build/native/bin/" + b.win + "/" + f.name, Data: f.data})
		}
		b.payloads = append(b.payloads, made{name: name, holds: prefixed("build/native/bin/"+b.win+"/", names(files))})
	}
	spec := nuspecData{ID: o.NugetID, Version: version, Title: o.Product, Authors: o.Manufacturer,
		Description: fmt.Sprintf("%s %s (%s), built from %s %s, for %s.", o.Product, rel.Version, rel.KernelRelease, rel.Tag, rel.Commit, strings.Join(arches, " and ")),
		RepoURL:     o.RepoURL, Branch: rel.Branch, Commit: rel.BranchHead}
	var buf bytes.Buffer
	if err := writeNupkg(&buf, spec, entries, o.when()); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(tmp, name), buf.Bytes(), 0o644)
}

func prefixed(prefix string, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = prefix + n
	}
	return out
}

// nuspec is the package manifest; id, version, authors and description are the schema's
// required fields.
var nuspec = template.Must(template.New("nuspec").Funcs(template.FuncMap{"x": xmlEscape}).Parse(`<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>{{x .ID}}</id>
    <version>{{x .Version}}</version>
    <title>{{x .Title}}</title>
    <authors>{{x .Authors}}</authors>
    <description>{{x .Description}}</description>
    <license type="expression">GPL-2.0-only</license>
    <requireLicenseAcceptance>false</requireLicenseAcceptance>
{{- if .RepoURL}}
    <repository type="git" url="{{x .RepoURL}}" branch="{{x .Branch}}" commit="{{x .Commit}}"/>
{{- end}}
    <tags>wsl kernel linux</tags>
  </metadata>
</package>
`))

type nuspecData struct {
	ID, Version, Title, Authors, Description string
	RepoURL, Branch, Commit                  string
}

// nugetEntry is a file in the package: its path inside and its bytes.
type nugetEntry struct {
	Name string
	Data []byte
}

// writeNupkg writes a .nupkg: a zip with the .nuspec at the root, the OPC parts NuGet writes
// ([Content_Types].xml, _rels/.rels), and entries in the order given, every one dated when.
func writeNupkg(w io.Writer, spec nuspecData, entries []nugetEntry, when time.Time) error {
	var ns bytes.Buffer
	if err := nuspec.Execute(&ns, spec); err != nil {
		return err
	}
	nuspecName := spec.ID + ".nuspec"
	rels := fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
  <Relationship Type="http://schemas.microsoft.com/packaging/2010/07/manifest" Target="/%s" Id="R0"/>
</Relationships>
`, nuspecName)
	// Every part needs a content type: by extension, or named for the ones without (kernel, config).
	var types strings.Builder
	types.WriteString(`<?xml version="1.0" encoding="utf-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
  <Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
  <Default Extension="nuspec" ContentType="application/octet"/>
`)
	seen := map[string]bool{}
	for _, e := range entries {
		if ext := path.Ext(e.Name); ext == "" {
			fmt.Fprintf(&types, "  <Override PartName=\"/%s\" ContentType=\"application/octet\"/>\n", xmlEscape(e.Name))
		} else if !seen[ext] {
			seen[ext] = true
			fmt.Fprintf(&types, "  <Default Extension=\"%s\" ContentType=\"application/octet\"/>\n", xmlEscape(ext[1:]))
		}
	}
	types.WriteString("</Types>\n")
	all := append([]nugetEntry{{Name: "_rels/.rels", Data: []byte(rels)}, {Name: nuspecName, Data: ns.Bytes()}}, entries...)
	all = append(all, nugetEntry{Name: "[Content_Types].xml", Data: []byte(types.String())})
	zw := zip.NewWriter(w)
	for _, e := range all {
		fw, err := zw.CreateHeader(&zip.FileHeader{Name: e.Name, Method: zip.Deflate, Modified: when.UTC()})
		if err != nil {
			return err
		}
		if _, err := fw.Write(e.Data); err != nil {
			return err
		}
	}
	return zw.Close()
}
