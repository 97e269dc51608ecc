package arch

import (
	"slices"
	"testing"
)

func TestLookup(t *testing.T) {
	if got, want := Names(), []string{"x86_64", "arm64"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %q, want %q", got, want)
	}
	for _, tc := range []struct{ name, srcArch, goarch, windows string }{
		{"x86_64", "x86", "amd64", "x64"},
		{"arm64", "arm64", "arm64", "arm64"},
	} {
		a, err := Lookup(tc.name)
		if err != nil || a.SrcArch != tc.srcArch || a.GOARCH != tc.goarch || a.Windows != tc.windows {
			t.Errorf("Lookup(%s) = %+v, %v; want SRCARCH %s, GOARCH %s, Windows %s", tc.name, a, err, tc.srcArch, tc.goarch, tc.windows)
		}
	}
	if _, err := Lookup("riscv64"); err == nil || err.Error() != `unknown arch "riscv64" (x86_64, arm64)` {
		t.Errorf("Lookup(riscv64) = %v, want the known arches named", err)
	}
}
