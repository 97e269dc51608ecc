package kconfig

import (
	"slices"
	"strings"
	"testing"
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
	for _, v := range p.Check("x86_64", final) {
		got = append(got, v.String())
	}
	want := []string{
		"wsl.policy:3: CONFIG_VSOCKETS must be y on x86_64 (no vsock, no boot), but the final .config has m",
		"wsl.policy:4: CONFIG_HYPERV_IOMMU must be y on x86_64 (x86 only), but the final .config has n",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("x86_64 violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if v := p.Check("arm64", final); len(v) != 1 || v[0].Rule.Symbol != "VSOCKETS" {
		t.Errorf("arm64 violations: %v", v)
	}
	if v := p.Check("riscv", final); len(v) != 0 {
		t.Errorf("an arch without a column: %v", v)
	}
}

func TestPolicyErrorsNameTheLine(t *testing.T) {
	for text, want := range map[string]string{
		"CONFIG_A y\n":                            "p:1: the policy must start with an arches: line",
		"arches: x86_64\nCONFIG_A y\n":            "p:2: want CONFIG_SYMBOL, a value for each of x86_64, and why",
		"arches: x86_64\nA y why\n":               `p:2: "A" is not a CONFIG_ symbol`,
		"arches: x86_64\nCONFIG_A yes why\n":      `p:2: CONFIG_A: "yes" for x86_64 is not a value`,
		"arches: x86_64\nCONFIG_A y|x why\n":      `p:2: CONFIG_A: "y|x" for x86_64 is not a value`,
		"arches: a\nCONFIG_A y w\nCONFIG_A n w\n": "p:3: CONFIG_A is already ruled on at line 2",
		"arches: a\narches: b\n":                  "p:2: a second arches: line",
		"# nothing\n":                             "p: empty policy",
	} {
		_, err := ParsePolicy(strings.NewReader(text), "p")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: got %v, want %q", text, err, want)
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
			for _, v := range p.Check(a, final) {
				if v.Rule.Why == "" || !strings.HasPrefix(v.String(), "p:") {
					t.Fatalf("violation without a reason or a place: %q", v.String())
				}
			}
		}
	})
}
