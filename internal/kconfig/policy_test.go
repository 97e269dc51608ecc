package kconfig

import (
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/version"
)

func TestPolicyChecksEachArch(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader(`# comment
arches: x86_64 arm64
CONFIG_VSOCKETS      y     y     no vsock, no boot
CONFIG_HYPERV_IOMMU  y     -     x86 only
CONFIG_FUSE_FS       y|m   y|m   FUSE in distros
CONFIG_LOCALVERSION_AUTO n n     exact uname -r
CONFIG_NR_CPUS       "512" -     quoted values work too
`), "wsl.policy")
	if err != nil {
		t.Fatal(err)
	}
	final := mustParse(t, "CONFIG_VSOCKETS=m\nCONFIG_FUSE_FS=m\nCONFIG_NR_CPUS=\"512\"\n", ".config")
	var got []string
	for _, v := range p.Check("x86_64", series(t, "6.12"), final) {
		got = append(got, v.String())
	}
	want := []string{
		"wsl.policy:3: CONFIG_VSOCKETS must be y on x86_64 (no vsock, no boot), but the final .config has m",
		"wsl.policy:4: CONFIG_HYPERV_IOMMU must be y on x86_64 (x86 only), but the final .config has n",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("x86_64 violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := p.Check("arm64", series(t, "6.12"), final); len(v) != 1 || v[0].Rule.Symbol != "VSOCKETS" {
		t.Errorf("arm64 violations: %v", v)
	}
	if v := p.Check("riscv", series(t, "6.12"), final); len(v) != 0 {
		t.Errorf("an arch without a column: %v", v)
	}
}

func TestPolicyErrorsNameTheLine(t *testing.T) {
	for text, want := range map[string]string{
		"CONFIG_A y\n":                                            "p:1: the policy must start with an arches: line",
		"arches: x86_64\nCONFIG_A y\n":                            "p:2: want CONFIG_SYMBOL, a value for each of x86_64, and why",
		"arches: x86_64\nA y why\n":                               `p:2: "A" is not a CONFIG_ symbol`,
		"arches: x86_64\nCONFIG_A yes why\n":                      `p:2: CONFIG_A: "yes" for x86_64 is not a value`,
		"arches: x86_64\nCONFIG_A y|x why\n":                      `p:2: CONFIG_A: "y|x" for x86_64 is not a value`,
		"arches: a\nCONFIG_A y w\nCONFIG_A n w\n":                 "p:3: CONFIG_A is already ruled on at line 2",
		"arches: a\narches: b\n":                                  "p:2: a second arches: line",
		"# nothing\n":                                             "p: empty policy",
		"arches: a\n# series: 7.2-6.1\n":                          `p:2: # series: "7.2-6.1" is an empty range`,
		"arches: a\n# series: seven\n":                            `p:2: # series: "seven" is not a series range`,
		"arches: a\nCONFIG_A y w\n# series: 7.2-\nCONFIG_A n w\n": "p:4: CONFIG_A is already ruled on at line 2 for series 7.2- (that line is for every series, this one for series 7.2-)",
		"arches: a\n# series: -7.1\nCONFIG_A y w\n# series: 7.1-\nCONFIG_A n w\n": "p:5: CONFIG_A is already ruled on at line 3 for series 7.1",
	} {
		_, err := ParsePolicy(strings.NewReader(text), "p")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", text, err, want)
		}
	}
}

// A rule under "# series:" holds on those series only; one symbol may be ruled on differently
// for series that do not overlap.
func TestPolicyPerSeries(t *testing.T) {
	p, err := ParsePolicy(strings.NewReader(`arches: x86_64 arm64
CONFIG_HYPERV          y   y   every series
# series: -7.1
CONFIG_HYPERV_IOMMU    y   -   Hyper-V interrupt remapping, its own symbol up to 7.1
CONFIG_NFS_V4_1        y   y   NFS 4.1 is its own switch up to 7.1
# series: 7.2-
CONFIG_IRQ_REMAP       y   -   Hyper-V interrupt remapping comes with IRQ_REMAP from 7.2
CONFIG_NFS_V4_1        n   n   gone from 7.2
# series: all
CONFIG_VSOCKETS        y   y   every series again
`), "wsl.policy")
	if err != nil {
		t.Fatal(err)
	}
	final := mustParse(t, "CONFIG_HYPERV=y\n", ".config")
	for _, tc := range []struct {
		arch, series string
		want         []string
	}{
		{"x86_64", "6.12", []string{
			"wsl.policy:4: CONFIG_HYPERV_IOMMU must be y on x86_64 for series -7.1 (Hyper-V interrupt remapping, its own symbol up to 7.1), but the final .config has n",
			"wsl.policy:5: CONFIG_NFS_V4_1 must be y on x86_64 for series -7.1 (NFS 4.1 is its own switch up to 7.1), but the final .config has n",
			"wsl.policy:10: CONFIG_VSOCKETS must be y on x86_64 (every series again), but the final .config has n",
		}},
		{"x86_64", "7.2", []string{
			"wsl.policy:7: CONFIG_IRQ_REMAP must be y on x86_64 for series 7.2- (Hyper-V interrupt remapping comes with IRQ_REMAP from 7.2), but the final .config has n",
			"wsl.policy:10: CONFIG_VSOCKETS must be y on x86_64 (every series again), but the final .config has n",
		}},
		{"arm64", "7.3", []string{
			"wsl.policy:10: CONFIG_VSOCKETS must be y on arm64 (every series again), but the final .config has n",
		}},
	} {
		var got []string
		for _, v := range p.Check(tc.arch, series(t, tc.series), final) {
			got = append(got, v.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s %s violations:\n%s\nwant:\n%s", tc.arch, tc.series, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestShippedPolicyParses(t *testing.T) {
	p, err := LoadPolicy("../../configs/wsl.policy")
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Rules) < 30 || !slices.Equal(p.Arches, []string{"x86_64", "arm64"}) {
		t.Errorf("configs/wsl.policy: %d rules for %v", len(p.Rules), p.Arches)
	}
}

func FuzzParsePolicy(f *testing.F) {
	f.Add("arches: x86_64 arm64\nCONFIG_A y|m - why\n")
	f.Add("arches: a\nCONFIG_N \"512\" because\n# c\n")
	f.Add("arches: a b\n# series: -7.1\nCONFIG_A y - old\n# series: 7.2-\nCONFIG_A m y new\n# series: all\nCONFIG_B n n b\n")
	final := mustParse(f, "CONFIG_A=m\n", ".config")
	f.Fuzz(func(t *testing.T, text string) {
		p, err := ParsePolicy(strings.NewReader(text), "p")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "p:") && !strings.HasPrefix(err.Error(), "p ") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, a := range p.Arches {
			for _, v := range p.Check(a, version.Series{Major: 7, Minor: 2}, final) {
				if v.Rule.Why == "" || !strings.HasPrefix(v.String(), "p:") {
					t.Fatalf("violation without a reason or a place: %q", v.String())
				}
			}
		}
	})
}
