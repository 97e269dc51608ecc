package payload

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"text/template"
	"time"
)

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

// nugetEntry is a file in the package: its path inside and where to read it.
type nugetEntry struct {
	Name, Source string
	Data         []byte // used when Source is empty
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
		data := e.Data
		if e.Source != "" {
			if data, err = os.ReadFile(e.Source); err != nil {
				return err
			}
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}
