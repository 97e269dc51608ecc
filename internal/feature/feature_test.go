package feature

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/version"
)

var arches = []string{"x86_64", "arm64"}

// s612 is the series most tests judge on; their fragments have no ranges.
var s612 = version.Series{Major: 6, Minor: 12}

func mustSeries(t *testing.T, s string) version.Series {
	t.Helper()
	v, err := version.ParseSeries(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// writeTree writes files (name -> text) under a fresh folder and returns it.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// good is a folder of valid features: one for every arch, one with an arch fragment, one for
// x86_64 only.
var good = map[string]string{
	"docker-nft.config": `# SPDX-License-Identifier: GPL-2.0-only
# feature: Docker with the nft iptables backend
# users: docker run -p on Debian 11+
# essential: NF_TABLES CONFIG_NFT_NAT
# Free text: with a colon, which is no header key.
CONFIG_NETFILTER=y
CONFIG_NF_TABLES=m
CONFIG_NFT_NAT=m
`,
	"kvm-nested.config": `# feature: nested virtualisation
# users: KVM, Firecracker
# essential: KVM
CONFIG_VIRTUALIZATION=y
CONFIG_KVM=m
`,
	"kvm-nested-x86_64.config": `# essential: KVM_INTEL
CONFIG_KVM_INTEL=m
`,
	"big-hosts.config": `# feature: all the CPUs of a big host
# users: hosts with more than 64 threads
# arches: x86_64
# essential: NR_CPUS
CONFIG_NR_CPUS=8192
`,
}

func TestLoadReadsHeadersAndArchFragments(t *testing.T) {
	dir := writeTree(t, good)
	s, err := Load(dir, arches)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	if got, want := s.Names(), []string{"big-hosts", "docker-nft", "kvm-nested"}; !slices.Equal(got, want) {
		t.Errorf("Names() = %v, want %v (an arch fragment is not a feature)", got, want)
	}
	for _, tc := range []struct {
		feature, arch string
		fragments     []string
		essential     []string // SYM=want
	}{
		{"docker-nft", "x86_64", []string{"docker-nft.config"}, []string{"NF_TABLES=m", "NFT_NAT=m"}},
		{"docker-nft", "arm64", []string{"docker-nft.config"}, []string{"NF_TABLES=m", "NFT_NAT=m"}},
		{"kvm-nested", "x86_64", []string{"kvm-nested.config", "kvm-nested-x86_64.config"}, []string{"KVM=m", "KVM_INTEL=m"}},
		{"kvm-nested", "arm64", []string{"kvm-nested.config"}, []string{"KVM=m"}},
		{"big-hosts", "x86_64", []string{"big-hosts.config"}, []string{"NR_CPUS=8192"}},
		{"big-hosts", "arm64", nil, nil},
	} {
		f, err := s.Lookup(tc.feature)
		if err != nil {
			t.Fatal(err)
		}
		var frags []string
		for _, p := range f.FragmentsFor(tc.arch) {
			frags = append(frags, filepath.Base(p))
		}
		if !slices.Equal(frags, tc.fragments) {
			t.Errorf("%s.FragmentsFor(%s) = %v, want %v", tc.feature, tc.arch, frags, tc.fragments)
		}
		var ess []string
		for _, e := range f.Essentials(tc.arch, s612) {
			ess = append(ess, e.Symbol+"="+e.Want)
		}
		if !slices.Equal(ess, tc.essential) {
			t.Errorf("%s.Essentials(%s) = %v, want %v", tc.feature, tc.arch, ess, tc.essential)
		}
	}
	f, _ := s.Lookup("docker-nft")
	if f.Summary != "Docker with the nft iptables backend" || f.Users != "docker run -p on Debian 11+" {
		t.Errorf("docker-nft header = %q, %q", f.Summary, f.Users)
	}
}

// A fragment file, main or arch, is found to be its feature's, so that an error about one of its
// lines can name the feature; any other file is no feature's.
func TestOfFile(t *testing.T) {
	dir := writeTree(t, good)
	s, err := Load(dir, arches)
	if err != nil {
		t.Fatal(err)
	}
	var all []*Feature
	for _, name := range s.Names() {
		all = append(all, s.Features[name])
	}
	for file, want := range map[string]string{
		"docker-nft.config": "docker-nft", "kvm-nested-x86_64.config": "kvm-nested", "wsl.config": "",
	} {
		got := ""
		if f := OfFile(all, filepath.Join(dir, file)); f != nil {
			got = f.Name
		}
		if got != want {
			t.Errorf("OfFile(%s) = %q, want %q", file, got, want)
		}
	}
}

func TestLoadErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"empty folder", map[string]string{"README": "x"}, "no feature fragments"},
		{"no summary", map[string]string{"a.config": "# users: u\n# essential: A\nCONFIG_A=y\n"}, `a.config:1: the header needs one "# feature: <what users get>" line`},
		{"summary after the settings", map[string]string{"a.config": "CONFIG_A=y\n# feature: late\n# users: u\n# essential: A\n"}, `a.config:2: "# feature:" after the first setting or # series: line: the header comes first`},
		{"essential under a series line", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A\n# series: 7.2-\n# essential: B\nCONFIG_A=y\nCONFIG_B=y\n"}, `a.config:5: "# essential:" after the first setting or # series: line`},
		{"bad series range", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A\n# series: 7.2-7.1\nCONFIG_A=y\n"}, `a.config:4: # series: "7.2-7.1" is an empty range`},
		{"overlapping ranges", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A\n# series: -7.1\nCONFIG_A=y\n# series: 7.1-\nCONFIG_A=m\n"}, `a.config:7: CONFIG_A is set again for series 7.1`},
		{"essential set off in every range", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A\n# series: -7.1\n# CONFIG_A is not set\n# series: 7.2-\n# CONFIG_A is not set\n"}, `a.config:3: essential CONFIG_A is not set by the feature's fragments for x86_64, on any series`},
		{"no users", map[string]string{"a.config": "# feature: f\n# essential: A\nCONFIG_A=y\n"}, `a.config:1: the header needs a "# users: <who needs it>" line`},
		{"misspelt key", map[string]string{"a.config": "# feature: f\n# users: u\n# esential: A\nCONFIG_A=y\n"}, `a.config:3: unknown header key "esential", did you mean "essential"?`},
		{"bad symbol", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A-B\nCONFIG_A=y\n"}, `a.config:3: essential: "A-B" is not a Kconfig symbol name`},
		{"essential not set", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A B\nCONFIG_A=m\n"}, `a.config:3: essential CONFIG_B is not set by the feature's fragments for x86_64`},
		{"essential turned off", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A\n# CONFIG_A is not set\n"}, `a.config:3: essential CONFIG_A is not set`},
		{"no essential", map[string]string{"a.config": "# feature: f\n# users: u\nCONFIG_A=y\n"}, `a.config:1: feature a names no essential symbol for x86_64`},
		{"bad arch", map[string]string{"a.config": "# feature: f\n# users: u\n# arches: riscv\n# essential: A\nCONFIG_A=y\n"}, `a.config: arches: "riscv" is not an arch (x86_64, arm64)`},
		{"bad name", map[string]string{"Docker.config": "# feature: f\n# users: u\n# essential: A\nCONFIG_A=y\n"}, `Docker.config: feature name "Docker" must be lower-case`},
		{"bad setting", map[string]string{"a.config": "# feature: f\n# users: u\n# essential: A\nCONFIG_A=y\nA=y\n"}, `a.config:5: not a config line: "A=y"`},
		{"arch fragment for an excluded arch", map[string]string{
			"a.config":       "# feature: f\n# users: u\n# arches: x86_64\n# essential: A\nCONFIG_A=y\n",
			"a-arm64.config": "CONFIG_B=y\n",
		}, `a-arm64.config: feature a is for x86_64 only (its arches: line), so it has no arm64 fragment`},
		{"summary in an arch fragment", map[string]string{
			"a.config":        "# feature: f\n# users: u\n# essential: A\nCONFIG_A=y\n",
			"a-x86_64.config": "# feature: again\nCONFIG_B=y\n",
		}, `a-x86_64.config: "# feature:" belongs in a.config`},
		{"overrides an unknown feature", map[string]string{
			"security.config": "# feature: f\n# users: u\n# essential: A\nCONFIG_A=y\n",
			"b.config":        "# feature: g\n# users: u\n# overrides: securty\n# essential: A\nCONFIG_A=m\n",
		}, `b.config: overrides: no such feature: "securty" is not in`},
		{"overrides itself", map[string]string{"a.config": "# feature: f\n# users: u\n# overrides: a\n# essential: A\nCONFIG_A=y\n"}, `a.config: overrides: a feature cannot override itself`},
		{"overrides in an arch fragment", map[string]string{
			"a.config":        "# feature: f\n# users: u\n# essential: A\nCONFIG_A=y\n",
			"a-x86_64.config": "# overrides: a\nCONFIG_B=y\n",
		}, `a-x86_64.config: "# overrides:" belongs in a.config`},
		{"essential of an arch fragment unset", map[string]string{
			"a.config":        "# feature: f\n# users: u\n# essential: A\nCONFIG_A=y\n",
			"a-x86_64.config": "# essential: B\nCONFIG_C=y\n",
		}, `a-x86_64.config:1: essential CONFIG_B is not set by the feature's fragments for x86_64`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeTree(t, tc.files)
			_, err := Load(dir, arches)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load = %v, want an error with %q", err, tc.want)
			}
		})
	}
}

func TestLookupSuggests(t *testing.T) {
	s, err := Load(writeTree(t, good), arches)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, want string }{
		{"docker-nft", ""},
		{"dokcer-nft", `"dokcer-nft" is not in ` + s.Dir + `; did you mean "docker-nft"?`},
		{"big-host", `did you mean "big-hosts"?`},
		{"gpu", `"gpu" is not in ` + s.Dir + ` (features: big-hosts, docker-nft, kvm-nested)`},
	} {
		f, err := s.Lookup(tc.name)
		switch {
		case tc.want == "" && (err != nil || f.Name != tc.name):
			t.Errorf("Lookup(%q) = %v, %v", tc.name, f, err)
		case tc.want != "" && (err == nil || !errors.Is(err, ErrUnknown) || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Lookup(%q) = %v, want ErrUnknown with %q", tc.name, err, tc.want)
		}
	}
}

func parseConfig(t *testing.T, text string) *kconfig.Config {
	t.Helper()
	c, err := kconfig.Parse(strings.NewReader(text), ".config")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckAndPolicies(t *testing.T) {
	s, err := Load(writeTree(t, good), arches)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		feature, arch, config string
		missing               []string // SYM=have
	}{
		{"docker-nft", "x86_64", "CONFIG_NF_TABLES=m\nCONFIG_NFT_NAT=m\n", nil},
		{"docker-nft", "x86_64", "CONFIG_NF_TABLES=y\nCONFIG_NFT_NAT=m\n", nil}, // built in meets a module request
		{"docker-nft", "arm64", "CONFIG_NF_TABLES=m\n", []string{"NFT_NAT=n"}},
		{"kvm-nested", "x86_64", "CONFIG_KVM=m\n", []string{"KVM_INTEL=n"}},
		{"kvm-nested", "arm64", "CONFIG_KVM=m\n", nil},
		{"big-hosts", "x86_64", "CONFIG_NR_CPUS=64\n", []string{"NR_CPUS=64"}},
		{"big-hosts", "arm64", "CONFIG_NR_CPUS=64\n", nil}, // not an arm64 feature
	} {
		f, _ := s.Lookup(tc.feature)
		final := parseConfig(t, tc.config)
		var got []string
		for _, m := range f.Check(tc.arch, s612, final) {
			got = append(got, m.Symbol+"="+m.Have)
		}
		if !slices.Equal(got, tc.missing) {
			t.Errorf("%s.Check(%s, %q) = %v, want %v", tc.feature, tc.arch, tc.config, got, tc.missing)
		}
		// The generated policy agrees with Check.
		var violations []string
		for _, pol := range Policies([]*Feature{f}, s612) {
			for _, v := range pol.Check(tc.arch, s612, final) {
				violations = append(violations, v.Rule.Symbol+"="+v.Actual)
			}
		}
		if !slices.Equal(violations, tc.missing) {
			t.Errorf("Policies(%s).Check(%s, %q) = %v, want %v", tc.feature, tc.arch, tc.config, violations, tc.missing)
		}
	}
}

func TestPolicyViolationNamesTheHeaderLine(t *testing.T) {
	dir := writeTree(t, good)
	s, err := Load(dir, arches)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := s.Lookup("kvm-nested")
	var got []string
	for _, pol := range Policies([]*Feature{f}, s612) {
		for _, v := range pol.Check("x86_64", s612, parseConfig(t, "CONFIG_KVM=y\n")) {
			got = append(got, v.String())
		}
	}
	want := []string{filepath.Join(dir, "kvm-nested-x86_64.config") + ":1: CONFIG_KVM_INTEL must be m or y on x86_64 (feature kvm-nested: nested virtualisation), but the final .config has n"}
	if !slices.Equal(got, want) {
		t.Errorf("violations = %q, want %q", got, want)
	}
}

func TestExplainNamesTheUnmetDependency(t *testing.T) {
	tree := writeTree(t, map[string]string{
		"Kconfig": `config NETFILTER
	bool "Netfilter"
config NF_TABLES
	tristate "nf_tables"
	depends on NETFILTER
config NFT_NAT
	tristate "nft nat"
	depends on NF_TABLES
`,
	})
	rules, err := kconfig.LoadRules(tree, "x86")
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(writeTree(t, good), arches)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := s.Lookup("docker-nft")
	for _, tc := range []struct {
		config string
		want   []string // substrings, in order
	}{
		{"CONFIG_NETFILTER=y\nCONFIG_NF_TABLES=m\nCONFIG_NFT_NAT=m\n", nil},
		{"# CONFIG_NETFILTER is not set\n", []string{
			"docker-nft.config:4: CONFIG_NF_TABLES is n, the feature needs m (or y)",
			"  depends on: NETFILTER [=n]  => n",
			"docker-nft.config:4: CONFIG_NFT_NAT is n",
			"  depends on: NF_TABLES [=n]  => n",
		}},
	} {
		got := f.Explain("x86_64", s612, parseConfig(t, tc.config), rules)
		if tc.want == nil && got != nil {
			t.Errorf("Explain(%q) = %q, want nothing", tc.config, got)
		}
		i := 0
		for _, line := range got {
			if i < len(tc.want) && strings.Contains(line, tc.want[i]) {
				i++
			}
		}
		if i < len(tc.want) {
			t.Errorf("Explain(%q) = %q\nwant lines with, in order: %q", tc.config, got, tc.want)
		}
	}
}

// The shipped features load, and no two of them ask for different values of one symbol on
// one series: the later would silently win, whatever order a profile lists them in. An opt-in
// that overrides a feature ("# overrides:") may, on purpose. The series tried are every bound of
// every range, where what the fragments ask for can change.
func TestShippedFeaturesAgree(t *testing.T) {
	s, err := Load("../../configs/features", arches)
	if err != nil {
		t.Fatalf("Load(configs/features) = %v", err)
	}
	points := map[version.Series]bool{s612: true}
	for _, name := range s.Names() {
		for _, arch := range arches {
			for _, path := range s.Features[name].FragmentsFor(arch) {
				frag, err := kconfig.ParseFragmentFile(path)
				if err != nil {
					t.Fatal(err)
				}
				for _, set := range frag.Settings() {
					points[set.Series.From], points[set.Series.To] = true, true
				}
			}
		}
	}
	delete(points, version.Series{})
	for _, arch := range arches {
		for series := range points {
			type setBy struct {
				kconfig.Setting
				f *Feature
			}
			who := map[string][]setBy{}
			for _, name := range s.Names() {
				f := s.Features[name]
				req := f.Requested(arch, series)
				if req == nil {
					continue
				}
				for _, set := range req.Settings() {
					for _, prev := range who[set.Symbol] {
						overrides := slices.Contains(f.Overrides, prev.f.Name) || slices.Contains(prev.f.Overrides, f.Name)
						if prev.Value != set.Value && !overrides {
							t.Errorf("%s, series %s: %s:%d sets CONFIG_%s=%s, but %s:%d sets %s", arch, series, set.File, set.Line, set.Symbol, set.Value, prev.File, prev.Line, prev.Value)
						}
					}
					who[set.Symbol] = append(who[set.Symbol], setBy{set, f})
				}
			}
		}
	}
}

// A feature knows its series: an essential symbol applies where the fragments set it, with the
// value set there, the arch file's word over the main file's.
var ranged = map[string]string{
	"nfs.config": `# feature: NFS
# users: NAS shares
# essential: NFS_V4 NFS_V4_1 NETFILTER_XTABLES_LEGACY MODE
CONFIG_NFS_V4=m
# series: -7.1
CONFIG_NFS_V4_1=y
CONFIG_MODE=m
# series: 7.2-
CONFIG_NETFILTER_XTABLES_LEGACY=y
CONFIG_MODE=y
`,
	"nfs-x86_64.config": `# series: 7.3-
# CONFIG_MODE is not set
`,
	"new.config": `# feature: only from 7.2
# users: new kernels
# essential: NEW
# series: 7.2-
CONFIG_NEW=m
`,
}

func TestEssentialsPerSeries(t *testing.T) {
	s, err := Load(writeTree(t, ranged), arches)
	if err != nil {
		t.Fatalf("Load = %v", err)
	}
	nfs, _ := s.Lookup("nfs")
	for _, tc := range []struct {
		arch, series string
		want         []string // SYM=want@range
	}{
		{"x86_64", "6.1", []string{"NFS_V4=m@all", "NFS_V4_1=y@-7.1", "MODE=m@-7.1"}},
		{"arm64", "7.1", []string{"NFS_V4=m@all", "NFS_V4_1=y@-7.1", "MODE=m@-7.1"}},
		{"x86_64", "7.2", []string{"NFS_V4=m@all", "NETFILTER_XTABLES_LEGACY=y@7.2-", "MODE=y@7.2-"}},
		{"x86_64", "7.3", []string{"NFS_V4=m@all", "NETFILTER_XTABLES_LEGACY=y@7.2-"}}, // the arch file turns MODE off
		{"arm64", "7.3", []string{"NFS_V4=m@all", "NETFILTER_XTABLES_LEGACY=y@7.2-", "MODE=y@7.2-"}},
	} {
		var got []string
		for _, e := range nfs.Essentials(tc.arch, mustSeries(t, tc.series)) {
			got = append(got, e.Symbol+"="+e.Want+"@"+e.Series.String())
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Essentials(%s, %s) = %v, want %v", tc.arch, tc.series, got, tc.want)
		}
	}

	// Check and the generated policy judge on the series given, and say the range.
	final := parseConfig(t, "CONFIG_NFS_V4=m\nCONFIG_MODE=m\n")
	for _, tc := range []struct {
		series  string
		missing []string
	}{
		{"6.12", []string{"nfs.config:3: CONFIG_NFS_V4_1 is n, the feature needs y (for series -7.1)"}},
		{"7.2", []string{
			"nfs.config:3: CONFIG_NETFILTER_XTABLES_LEGACY is n, the feature needs y (for series 7.2-)",
			"nfs.config:3: CONFIG_MODE is m, the feature needs y (for series 7.2-)",
		}},
	} {
		series := mustSeries(t, tc.series)
		var got, violations []string
		for _, m := range nfs.Check("arm64", series, final) {
			got = append(got, strings.TrimPrefix(m.String(), s.Dir+"/"))
		}
		for _, pol := range Policies([]*Feature{nfs}, series) {
			for _, v := range pol.Check("arm64", series, final) {
				violations = append(violations, v.Rule.Symbol+"="+v.Actual)
			}
		}
		if !slices.Equal(got, tc.missing) || len(violations) != len(tc.missing) {
			t.Errorf("%s: Check = %q, policy violations %v; want %q", tc.series, got, violations, tc.missing)
		}
	}

	// On a series where the fragments set none of its essentials, a feature is not there ("-").
	var b strings.Builder
	Report{Set: s, Profile: []string{"new", "nfs"}, Arch: "x86_64", Final: parseConfig(t, "CONFIG_NFS_V4=m\nCONFIG_NFS_V4_1=y\nCONFIG_MODE=m\n"), Series: s612}.Write(&b)
	if want := "judged on x86_64, series 6.12\nFEATURE  PROFILE  x86_64    WHAT USERS GET\nnew      yes      -         only from 7.2\nnfs      yes      provided  NFS\n"; b.String() != want {
		t.Errorf("Report on 6.12 =\n%s\nwant\n%s", b.String(), want)
	}
}

func TestReport(t *testing.T) {
	s, err := Load(writeTree(t, good), arches)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		report  Report
		missing int
		want    []string // lines, in order
	}{
		{"list only", Report{Set: s, Profile: []string{"docker-nft"}}, 0, []string{
			"FEATURE     PROFILE  WHAT USERS GET",
			"big-hosts   no       all the CPUs of a big host",
			"docker-nft  yes      Docker with the nft iptables backend",
			"kvm-nested  no       nested virtualisation",
		}},
		{"against a config", Report{Set: s, Profile: []string{"docker-nft", "kvm-nested"}, Arch: "arm64",
			Final: parseConfig(t, "CONFIG_NF_TABLES=y\nCONFIG_KVM=m\n"), Series: s612, SeriesFrom: "Linux 6.12.118, the tree's Makefile"}, 1, []string{
			"judged on arm64, series 6.12 (Linux 6.12.118, the tree's Makefile)",
			"FEATURE     PROFILE  arm64     WHAT USERS GET",
			"big-hosts   no       -         all the CPUs of a big host",
			"docker-nft  yes      MISSING   Docker with the nft iptables backend",
			"kvm-nested  yes      provided  nested virtualisation",
			"",
			"docker-nft: Docker with the nft iptables backend",
			"docker-nft.config:4: CONFIG_NFT_NAT is n, the feature needs m (or y)",
		}},
	} {
		var b strings.Builder
		missing, err := tc.report.Write(&b)
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
		for i := range got {
			got[i] = strings.TrimRight(got[i], " ")
			if i >= 6 { // the why lines name the file by its full path
				got[i] = strings.TrimPrefix(got[i], s.Dir+"/")
			}
		}
		if missing != tc.missing || !slices.Equal(got, tc.want) {
			t.Errorf("%s: Write = %d,\n%s\nwant %d,\n%s", tc.name, missing, strings.Join(got, "\n"), tc.missing, strings.Join(tc.want, "\n"))
		}
	}
}

// The shipped LSM order is Microsoft's (config-wsl of 6.6 and 6.18): SELinux, built in, ahead of
// AppArmor, so AppArmor is not the active LSM and Docker needs no apparmor_parser on any distro.
// AppArmor first is the opt-in apparmor-active, which overrides security's list and nothing
// else, and tells the conformance probes to expect AppArmor.
func TestShippedLSMOrder(t *testing.T) {
	const microsoft = `"landlock,lockdown,yama,loadpin,safesetid,integrity,selinux,apparmor,tomoyo"`
	s, err := Load("../../configs/features", arches)
	if err != nil {
		t.Fatal(err)
	}
	security, err := s.Lookup("security")
	if err != nil {
		t.Fatal(err)
	}
	optIn, err := s.Lookup("apparmor-active")
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range arches {
		req := security.Requested(arch, s612)
		for sym, want := range map[string]string{"LSM": microsoft, "SECURITY_SELINUX": "y", "AUDIT": "y", "SECURITY_APPARMOR": "y"} {
			if got := req.Value(sym); got != want {
				t.Errorf("security on %s: CONFIG_%s=%s, want %s", arch, sym, got, want)
			}
		}
		if !slices.ContainsFunc(security.Essentials(arch, s612), func(e Essential) bool { return e.Symbol == "SECURITY_SELINUX" }) {
			t.Errorf("security on %s: SECURITY_SELINUX is not essential: without it AppArmor would be the first major LSM built", arch)
		}
		over := optIn.Requested(arch, s612)
		var differ []string
		for _, set := range over.Settings() {
			if req.Value(set.Symbol) != set.Value {
				differ = append(differ, set.Symbol+"="+set.Value)
			}
		}
		if want := []string{`LSM="landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,tomoyo"`}; !slices.Equal(differ, want) {
			t.Errorf("apparmor-active on %s changes %v of security's settings, want %v", arch, differ, want)
		}
	}
	// The string is checked as any essential value: a kernel with security's order does not
	// provide apparmor-active, one with its own does, and the generated policy agrees.
	const built = "CONFIG_SECURITY=y\nCONFIG_SECURITY_SELINUX=y\nCONFIG_SECURITY_APPARMOR=y\n"
	for _, tc := range []struct {
		lsm        string
		violations int
	}{{microsoft, 1}, {`"landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,tomoyo"`, 0}} {
		final := parseConfig(t, built+"CONFIG_LSM="+tc.lsm+"\n")
		var got []string
		for _, m := range optIn.Check("x86_64", s612, final) {
			got = append(got, m.Symbol)
		}
		var violations int
		for _, pol := range Policies([]*Feature{optIn}, s612) {
			violations += len(pol.Check("x86_64", s612, final))
		}
		if len(got) != tc.violations || violations != tc.violations {
			t.Errorf("apparmor-active on CONFIG_LSM=%s: missing %v, %d policy violations; want %d of each", tc.lsm, got, violations, tc.violations)
		}
	}
	if !slices.Equal(optIn.Overrides, []string{"security"}) || optIn.ConformanceCmdline != "wslkernel.major_lsm=apparmor" {
		t.Errorf("apparmor-active: overrides %v, conformance-cmdline %q; want [security] and wslkernel.major_lsm=apparmor", optIn.Overrides, optIn.ConformanceCmdline)
	}
	if len(security.Overrides) != 0 || security.ConformanceCmdline != "" {
		t.Errorf("security: overrides %v, conformance-cmdline %q; want none", security.Overrides, security.ConformanceCmdline)
	}
}
