// Package arch is the one table of the arches the pipeline builds: our name for each, and what
// the kernel's build, Go and Windows call it. pipeline.yaml's validation, the build, the
// packages and their installers all read it, so an arch is added in one row.
package arch

import (
	"fmt"
	"runtime"
	"strings"
)

// Arch maps our arch names to the kernel's, Go's and Windows'.
type Arch struct {
	Name         string // ours: x86_64, arm64
	Make         string // ARCH= for make
	SrcArch      string // the arch/ folder, $(SRCARCH) in Kconfig
	CrossCompile string // CROSS_COMPILE= prefix when the host is another arch
	Image        string // the boot image target
	ImagePath    string // where it lands under O=
	GOARCH       string
	Windows      string // Windows' name, in payload names and NuGet folders: x64, arm64
}

// table holds the arches in the order pipeline.yaml's errors list them.
var table = []Arch{
	{Name: "x86_64", Make: "x86_64", SrcArch: "x86", CrossCompile: "x86_64-linux-gnu-", Image: "bzImage", ImagePath: "arch/x86/boot/bzImage", GOARCH: "amd64", Windows: "x64"},
	{Name: "arm64", Make: "arm64", SrcArch: "arm64", CrossCompile: "aarch64-linux-gnu-", Image: "Image", ImagePath: "arch/arm64/boot/Image", GOARCH: "arm64", Windows: "arm64"},
}

// Names lists our names of the arches, in the table's order.
func Names() []string {
	names := make([]string, len(table))
	for i, a := range table {
		names[i] = a.Name
	}
	return names
}

// Lookup returns the arch, or an error naming the known ones.
func Lookup(name string) (Arch, error) {
	for _, a := range table {
		if a.Name == name {
			return a, nil
		}
	}
	return Arch{}, fmt.Errorf("unknown arch %q (%s)", name, strings.Join(Names(), ", "))
}

// Native reports whether the arch is the host's, so no cross compiler is needed.
func (a Arch) Native() bool { return a.GOARCH == runtime.GOARCH }
