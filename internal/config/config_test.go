package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/feature"
)

// valid is a complete pipeline.yaml; each error case edits one line of it.
const valid = `name: linux-msft-wsl
series: "6.12"
upstream:
  releases: https://www.kernel.org/releases.json
  git: https://git.kernel.org/stable/linux.git
  keyring: keys.asc
version:
  localversion: -microsoft-standard-WSL2
  branch: linux-msft-wsl-{series}.y
  tag: linux-msft-wsl-{version}
profiles:
  smoke:
    upstream:
      releases: file://${TEST_KORG}/releases.json
      git: file://${TEST_KORG}/linux.git
      keyring: ${TEST_KORG}/keys.asc
    arches: [x86_64]
    config:
      base: tinyconfig
      fragments: [configs/smoke.config]
    patches: patches/series
    initrd:
      spec: initrd.list
      programs:
        SMOKE_INIT: cmd/init
    boot:
      timeout: 60s
`

// fixture writes the files valid refers to and returns the folder.
func fixture(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"configs/smoke.config":                      "CONFIG_PRINTK=y\n",
		"patches/series":                            "# comment\n\n0001-a.patch\n",
		"patches/0001-a.patch":                      "",
		"initrd.list":                               "dir /dev 0755 0 0\n",
		"cmd/init/main.go":                          "package main\n",
		"configs/other.config":                      "",
		"configs/bad-range.config":                  "CONFIG_A=y\n# series: 7.2-6.1\nCONFIG_B=y\n",
		"configs/features/fuse.config":              "# feature: FUSE\n# users: sshfs\n# essential: FUSE_FS\nCONFIG_FUSE_FS=m\n",
		"configs/features/fuse-builtin.config":      "# feature: FUSE built in\n# users: early mounts\n# overrides: fuse\n# essential: FUSE_FS\nCONFIG_FUSE_FS=y\n",
		"configs/features/kvm-nested.config":        "# feature: KVM\n# users: emulators\n# essential: KVM\nCONFIG_KVM=m\n",
		"configs/features/kvm-nested-x86_64.config": "# essential: KVM_INTEL\nCONFIG_KVM_INTEL=m\n",
		"configs/features/big-hosts.config":         "# feature: CPUs\n# users: big hosts\n# arches: arm64\n# essential: NR_CPUS\nCONFIG_NR_CPUS=512\n",
	} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestLoadValid(t *testing.T) {
	t.Setenv("TEST_KORG", "/srv/korg")
	dir := fixture(t)
	p, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(valid))
	if err != nil {
		t.Fatalf("Parse(valid) = %v", err)
	}
	l, err := p.Select("smoke")
	if err != nil {
		t.Fatal(err)
	}
	if got, want := l.Upstream.Releases, "file:///srv/korg/releases.json"; got != want {
		t.Errorf("smoke upstream releases = %q, want %q", got, want)
	}
	if got, want := l.Profile.Config.Fragments[0], filepath.Join(dir, "configs/smoke.config"); got != want {
		t.Errorf("fragment = %q, want absolute %q", got, want)
	}
	if got := l.Profile.Boot.Timeout.Seconds(); got != 60 {
		t.Errorf("boot timeout = %vs, want 60s", got)
	}
	if !l.Profile.Config.BaseIsTarget() {
		t.Errorf("tinyconfig should be a make target")
	}
	if got, want := l.Track().String(), "6.12"; got != want {
		t.Errorf("series = %q, want %q", got, want)
	}
	if _, err := p.Select("nope"); err == nil || !strings.Contains(err.Error(), `no profile "nope" (profiles: smoke)`) {
		t.Errorf("Select(nope) = %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name     string
		old, new string // replace old with new in valid
		want     string // a substring of the error, with file:line:column
	}{
		{"unknown key", "  timeout: 60s", "  timeout: 60s\n      colour: red", `pipeline.yaml:28:7: profiles.smoke.boot: unknown key "colour" (expected one of: timeout, memory, cmdline, module)`},
		{"typo suggests", "    arches:", "    arche:", `pipeline.yaml:17:5: profiles.smoke: unknown key "arche", did you mean "arches"?`},
		{"wrong type string", `series: "6.12"`, `series: 6.12`, `pipeline.yaml:2:9: series: expected a string, got a number (quote it: "6.12")`},
		{"wrong type list", "arches: [x86_64]", "arches: x86_64", `pipeline.yaml:17:13: profiles.smoke.arches: expected a list, got the string "x86_64"`},
		{"wrong type mapping", "    config:\n      base: tinyconfig\n      fragments: [configs/smoke.config]", "    config: tinyconfig", `pipeline.yaml:18:13: profiles.smoke.config: expected a mapping, got the string "tinyconfig"`},
		{"wrong type bool", "  keyring: keys.asc", "  keyring: keys.asc\n  allow_unsigned: sometimes", `pipeline.yaml:7:19: upstream.allow_unsigned: expected true or false`},
		{"bad duration", "timeout: 60s", "timeout: soon", `pipeline.yaml:27:16: profiles.smoke.boot.timeout: expected a duration such as 90s or 5m`},
		{"missing required", "  tag: linux-msft-wsl-{version}\n", "", `pipeline.yaml:8:3: version: missing required key "tag"`},
		{"missing required top", "name: linux-msft-wsl\n", "", `missing required key "name"`},
		{"duplicate key", "name: linux-msft-wsl", "name: linux-msft-wsl\nname: again", `pipeline.yaml:2:1: duplicate key "name"`},
		{"fragment missing", "[configs/smoke.config]", "[configs/smoke.config, configs/gone.config]", `pipeline.yaml:20:41: profiles.smoke.config.fragments[1]: ` + "%DIR%/configs/gone.config does not exist"},
		{"fragment with an empty series range", "[configs/smoke.config]", "[configs/smoke.config, configs/bad-range.config]", `pipeline.yaml:20:41: profiles.smoke.config.fragments[1]: %DIR%/configs/bad-range.config:2: # series: "7.2-6.1" is an empty range: 7.2 comes after 6.1`},
		{"fragment is a folder", "[configs/smoke.config]", "[configs]", `profiles.smoke.config.fragments[0]: %DIR%/configs is a folder, expected a file`},
		{"base file missing", "base: tinyconfig", "base: configs/base.config", `pipeline.yaml:19:13: profiles.smoke.config.base: %DIR%/configs/base.config does not exist`},
		{"series missing", "patches: patches/series", "patches: patches/serie", `pipeline.yaml:21:14: profiles.smoke.patches: %DIR%/patches/serie does not exist`},
		{"initrd spec missing", "spec: initrd.list", "spec: initrd.lst", `pipeline.yaml:23:13: profiles.smoke.initrd.spec: %DIR%/initrd.lst does not exist`},
		{"program missing", "SMOKE_INIT: cmd/init", "SMOKE_INIT: cmd/gone", `profiles.smoke.initrd.programs.SMOKE_INIT: %DIR%/cmd/gone does not exist`},
		{"bad series", `series: "6.12"`, `series: "6.x"`, `pipeline.yaml:2:9: series: series "6.x": malformed version: "x" is not a number (want X.Y, such as 6.12), or one of: longterm, stable`},
		{"tarball without base", "  keyring: keys.asc", "  keyring: keys.asc\n  source: tarball", `pipeline.yaml:4:3: upstream.tarballs: is required with source: tarball`},
		{"bad source", "  keyring: keys.asc", "  keyring: keys.asc\n  source: rsync", `pipeline.yaml:7:11: upstream.source: "rsync" is not one of: git, tarball`},
		{"bad resolve", "  keyring: keys.asc", "  keyring: keys.asc\n  resolve: rss", `pipeline.yaml:7:12: upstream.resolve: "rss" is not one of: releases, tags`},
		{"tags cannot follow a moniker", "series: \"6.12\"\nupstream:\n", "series: longterm\nupstream:\n  resolve: tags\n", `pipeline.yaml:4:12: upstream.resolve: following "longterm" needs releases.json`},
		{"bad arch", "arches: [x86_64]", "arches: [x86_64, riscv]", `pipeline.yaml:17:22: profiles.smoke.arches[1]: "riscv" is not one of: x86_64, arm64`},
		{"duplicate arch", "arches: [x86_64]", "arches: [x86_64, x86_64]", `profiles.smoke.arches[1]: "x86_64" is listed twice`},
		{"bad template", "tag: linux-msft-wsl-{version}", "tag: linux-msft-wsl-{ver}", `pipeline.yaml:10:8: version.tag: template "linux-msft-wsl-{ver}": unknown placeholder {ver}`},
		{"bad localversion", "localversion: -microsoft-standard-WSL2", "localversion: microsoft", `pipeline.yaml:8:17: version.localversion: "microsoft" must start with '-'`},
		{"bad fingerprint", "  keyring: keys.asc", "  keyring: keys.asc\n  signers: [ABC]", `pipeline.yaml:7:13: upstream.signers[0]: "ABC" is not a 40-digit`},
		{"bad max_unpacked", "  keyring: keys.asc", "  keyring: keys.asc\n  max_unpacked: 8GB", `pipeline.yaml:7:17: upstream.max_unpacked: "8GB" is not a size: write a positive whole number of bytes, or one with KiB, MiB, GiB or TiB (such as 8GiB)`},
		{"pin outside series", "  keyring: keys.asc", "  keyring: keys.asc\n  pin: 6.6.87", `pipeline.yaml:7:8: upstream.pin: 6.6.87 is not in the series 6.12`},
		{"bad compression", "      programs:", "      compression: bzip3\n      programs:", `profiles.smoke.initrd.compression: "bzip3" is not one of: gzip, zstd, xz, none`},
		{"arch fragment for an arch not built", "[configs/smoke.config]", "[configs/smoke.config]\n      arch_fragments:\n        arm64: [configs/other.config]", `profiles.smoke.config.arch_fragments.arm64: arm64 is not one of the profile's arches (x86_64)`},
		{"arch fragment missing", "[configs/smoke.config]", "[configs/smoke.config]\n      arch_fragments:\n        x86_64: [configs/gone.config]", `profiles.smoke.config.arch_fragments.x86_64[0]: %DIR%/configs/gone.config does not exist`},
		{"policy missing", "[configs/smoke.config]", "[configs/smoke.config]\n      policy: configs/gone.policy", `pipeline.yaml:21:15: profiles.smoke.config.policy: %DIR%/configs/gone.policy does not exist`},
		{"policy malformed", "[configs/smoke.config]", "[configs/smoke.config]\n      policy: configs/other.config", `profiles.smoke.config.policy: %DIR%/configs/other.config: empty policy`},
		{"strict not a bool", "[configs/smoke.config]", "[configs/smoke.config]\n      strict: maybe", `profiles.smoke.config.strict: expected true or false`},
		{"bad fuzz", "patches: patches/series", "patches: patches/series\n    patch_fuzz: 5", `pipeline.yaml:22:17: profiles.smoke.patch_fuzz: 5 is not a fuzz factor: 0 (exact context, the default) to 3`},
		{"distcc without hosts", "patches: patches/series", "patches: patches/series\n    build:\n      wrapper: distcc", `profiles.smoke.build.wrapper: distcc needs build.distcc_hosts`},
		{"hosts without distcc", "patches: patches/series", "patches: patches/series\n    build:\n      distcc_hosts: [localhost]", `profiles.smoke.build.distcc_hosts: set, but build.wrapper is "ccache": use distcc or ccache+distcc`},
		{"bad wrapper", "patches: patches/series", "patches: patches/series\n    build:\n      wrapper: icecc", `profiles.smoke.build.wrapper: "icecc" is not one of: ccache, distcc, ccache+distcc, none`},
		{"signing two ways", "patches: patches/series", "patches: patches/series\n    package:\n      signing: {pkcs12: configs/smoke.config, command: [sign, \"{in}\", \"{out}\"]}", `profiles.smoke.package.signing: set exactly one of: pkcs12, cert and key, command`},
		{"signing cert without key", "patches: patches/series", "patches: patches/series\n    package:\n      signing: {cert: configs/smoke.config}", `profiles.smoke.package.signing: cert and key go together`},
		{"signing command without {in}", "patches: patches/series", "patches: patches/series\n    package:\n      signing: {command: [sign]}", `profiles.smoke.package.signing.command: must name the file to sign as {in}`},
		{"timestamp URL not http", "patches: patches/series", "patches: patches/series\n    package:\n      signing: {pkcs12: configs/smoke.config, timestamp_url: \"tsa.example.com\"}", `profiles.smoke.package.signing.timestamp_url: "tsa.example.com" is not an http or https URL`},
		{"nuget revision negative", "patches: patches/series", "patches: patches/series\n    package:\n      nuget_revision: -1", `profiles.smoke.package.nuget_revision: must be 1 or more`},
		{"bad modules disk", "patches: patches/series", "patches: patches/series\n    package:\n      modules_disk: vhdx", `pipeline.yaml:23:21: profiles.smoke.package.modules_disk: "vhdx" is not one of: flat, artifacts`},
		{"signing key missing", "patches: patches/series", "patches: patches/series\n    package:\n      signing: {pkcs12: keys/gone.p12}", `profiles.smoke.package.signing.pkcs12: %DIR%/keys/gone.p12 does not exist`},
		{"arch base for an arch not built", "base: tinyconfig", "base: tinyconfig\n      arch_base: {arm64: allnoconfig}", `profiles.smoke.config.arch_base.arm64: arm64 is not one of the profile's arches (x86_64)`},
		{"arch base file missing", "base: tinyconfig", "base: tinyconfig\n      arch_base: {x86_64: configs/gone.config}", `profiles.smoke.config.arch_base.x86_64: %DIR%/configs/gone.config does not exist`},
		{"api_url not a URL", "profiles:\n  smoke:", "publish:\n  api_url: \"http://%zz\"\nprofiles:\n  smoke:", `pipeline.yaml:12:12: publish.api_url: "http://%zz" is not a URL`},
		{"api_url without scheme", "profiles:\n  smoke:", "publish:\n  api_url: github.example.com/api/v3/\nprofiles:\n  smoke:", `pipeline.yaml:12:12: publish.api_url: "github.example.com/api/v3/" is not an http or https URL (such as https://github.example.com/api/v3/)`},
		{"upload_url wrong scheme", "profiles:\n  smoke:", "publish:\n  upload_url: ftp://github.example.com/\nprofiles:\n  smoke:", `pipeline.yaml:12:15: publish.upload_url: "ftp://github.example.com/" is not an http or https URL`},
		{"conformance list missing", "patches: patches/series", "patches: patches/series\n    conformance: {packages: conformance/gone.list, guest: configs}", `profiles.smoke.conformance.packages: %DIR%/conformance/gone.list does not exist`},
		{"conformance guest not a folder", "patches: patches/series", "patches: patches/series\n    conformance: {packages: configs/smoke.config, guest: configs/smoke.config}", `profiles.smoke.conformance.guest: %DIR%/configs/smoke.config is not a folder`},
		{"conformance negative timeout", "patches: patches/series", "patches: patches/series\n    conformance: {packages: configs/smoke.config, guest: configs, timeout: -1s}", `profiles.smoke.conformance: timeout, probe_timeout and cpus must not be negative`},
		{"yaml syntax", "series: \"6.12\"", "series: [6.12", `pipeline.yaml: yaml:`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("TEST_KORG", "/srv/korg")
			dir := fixture(t)
			if !strings.Contains(valid, tc.old) {
				t.Fatalf("test case edits %q, which valid does not hold", tc.old)
			}
			doc := strings.Replace(valid, tc.old, tc.new, 1)
			_, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc))
			if err == nil {
				t.Fatalf("Parse() = nil error, want one containing %q", tc.want)
			}
			want := strings.ReplaceAll(tc.want, "%DIR%", dir)
			if !strings.Contains(err.Error(), want) {
				t.Errorf("Parse() error =\n%v\nwant it to contain\n%s", err, want)
			}
		})
	}
}

func TestNoProfiles(t *testing.T) {
	dir := fixture(t)
	doc := valid[:strings.Index(valid, "profiles:")] + "profiles: {}\n"
	_, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc))
	if want := "pipeline.yaml:11:11: profiles: at least one profile is needed"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Parse() error = %v, want %q", err, want)
	}
}

func TestUnsetVariableMattersOnlyForItsProfile(t *testing.T) {
	os.Unsetenv("TEST_KORG")
	dir := fixture(t)
	doc := strings.Replace(valid, "profiles:\n", "profiles:\n  other:\n    arches: [arm64]\n    config: {base: defconfig}\n    initrd: {spec: initrd.list}\n", 1)
	p, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc))
	if err != nil {
		t.Fatalf("Parse() = %v; an unset variable in one profile must not stop loading", err)
	}
	if _, err := p.Select("other"); err != nil {
		t.Errorf("Select(other) = %v, want nil", err)
	}
	_, err = p.Select("smoke")
	want := "pipeline.yaml:18:17: profiles.smoke.upstream.releases: environment variable TEST_KORG is not set"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("Select(smoke) = %v, want %q", err, want)
	}
}

func TestTheRepositoryPipelineLoads(t *testing.T) {
	t.Setenv("KERNEL_ORG", t.TempDir())
	p, err := Load("../../pipeline.yaml")
	if err != nil {
		t.Fatalf("Load(pipeline.yaml) = %v", err)
	}
	for _, name := range []string{"wsl", "smoke"} {
		if _, err := p.Select(name); err != nil {
			t.Errorf("Select(%s) = %v", name, err)
		}
	}
}

// The repository's publish target is GitHub's unless the environment points it elsewhere, as
// scripts/demo does; an empty ${VAR:-} leaves a field unset.
func TestThePublishTargetFollowsTheEnvironment(t *testing.T) {
	t.Setenv("KERNEL_ORG", t.TempDir())
	for _, c := range []struct {
		remote, api         string
		wantRemote, wantAPI string
	}{
		{wantRemote: "https://github.com/wslkernel/WSL2-Linux-Kernel.git"},
		{remote: "file:///tmp/remote.git", api: "http://127.0.0.1:4321/", wantRemote: "file:///tmp/remote.git", wantAPI: "http://127.0.0.1:4321/"},
	} {
		t.Setenv("WSLKERNEL_PUBLISH_REMOTE", c.remote)
		t.Setenv("WSLKERNEL_GITHUB_API", c.api)
		p, err := Load("../../pipeline.yaml")
		if err != nil {
			t.Fatal(err)
		}
		if p.Publish.Remote != c.wantRemote || p.Publish.APIURL != c.wantAPI {
			t.Errorf("with remote %q and API %q: publish.remote %q, publish.api_url %q; want %q, %q", c.remote, c.api, p.Publish.Remote, p.Publish.APIURL, c.wantRemote, c.wantAPI)
		}
	}
}

// git:// is cleartext and unauthenticated like http://, and any scheme but https, ssh, file (or
// http to a loopback host) is refused too: by file:line, setting and scheme, also when the URL
// comes from the environment.
func TestUnauthenticatedSchemesAreRefused(t *testing.T) {
	t.Setenv("TEST_KORG", "/srv/korg")
	dir := fixture(t)
	upstreamGit := "  git: https://git.kernel.org/stable/linux.git\n"
	profileGit := "      git: file://${TEST_KORG}/linux.git\n"
	cases := []struct {
		name, old, new, env string
		want                []string // each error expected, or none
	}{
		{"upstream.git", upstreamGit, "  git: git://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git\n", "",
			[]string{`pipeline.yaml:5:8: upstream.git: "git://git.kernel.org/pub/scm/linux/kernel/git/stable/linux.git" is git:// to git.kernel.org: the git protocol is neither encrypted nor authenticated`}},
		{"from the environment", profileGit, "      git: ${TEST_GIT}\n", "GIT://git.example.org/linux.git",
			[]string{`pipeline.yaml:15:12: profiles.smoke.upstream.git: "GIT://git.example.org/linux.git" (from ${TEST_GIT}) is git:// to git.example.org`}},
		{"publish.remote", "profiles:\n", "publish:\n  remote: git://github.com/o/r.git\nprofiles:\n", "",
			[]string{`pipeline.yaml:12:11: publish.remote: "git://github.com/o/r.git" is git:// to github.com`}},
		{"another scheme", upstreamGit, upstreamGit + "  tarballs: ftp://ftp.kernel.org/pub/linux/kernel\n", "",
			[]string{`pipeline.yaml:6:13: upstream.tarballs: "ftp://ftp.kernel.org/pub/linux/kernel" is ftp://, which is not one of https, ssh and file`}},
		{"not a URL", upstreamGit, "  git: git://git.kernel.org:port/linux.git\n", "",
			[]string{`pipeline.yaml:5:8: upstream.git: "git://git.kernel.org:port/linux.git" is not a URL`}},
		{"ssh", "profiles:\n", "publish:\n  remote: ssh://git@github.com/o/r.git\nprofiles:\n", "", nil},
		{"file", upstreamGit, "  git: file:///srv/linux.git\n", "", nil},
		{"a path", upstreamGit, "  git: /srv/linux.git\n", "", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TEST_GIT", c.env)
			doc := strings.Replace(valid, c.old, c.new, 1)
			if doc == valid {
				t.Fatalf("%q is not in the fixture", c.old)
			}
			_, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc))
			if len(c.want) == 0 {
				if err != nil {
					t.Errorf("Parse = %v; want it accepted", err)
				}
				return
			}
			for _, want := range c.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Parse = %v; want an error containing %q", err, want)
				}
			}
		})
	}
}

// Plain http:// would send the GitHub token, a pushed release or the code we build in clear:
// every URL setting refuses it, by file:line and setting, unless the host is loopback (a test
// server), also when the URL comes from the environment.
func TestCleartextURLsAreRefusedUnlessLoopback(t *testing.T) {
	t.Setenv("TEST_KORG", "/srv/korg")
	dir := fixture(t)
	upstreamKey := "  git: https://git.kernel.org/stable/linux.git\n"
	cases := []struct {
		name, old, new, env string
		want                []string // each error expected, or none
	}{
		{"upstream.git", upstreamKey, "  git: http://git.kernel.org/stable/linux.git\n", "",
			[]string{`pipeline.yaml:5:8: upstream.git: "http://git.kernel.org/stable/linux.git" is plain http to git.kernel.org`}},
		{"upstream.releases", "  releases: https://www.kernel.org/releases.json\n", "  releases: http://www.kernel.org/releases.json\n", "",
			[]string{`pipeline.yaml:4:13: upstream.releases: "http://www.kernel.org/releases.json" is plain http`}},
		{"upstream.tarballs", upstreamKey, upstreamKey + "  tarballs: HTTP://cdn.kernel.org/pub/linux/kernel\n", "",
			[]string{`pipeline.yaml:6:13: upstream.tarballs: "HTTP://cdn.kernel.org/pub/linux/kernel" is plain http`}},
		{"publish", "profiles:\n", "publish:\n  remote: http://github.com/o/r.git\n  api_url: ${TEST_API}\nprofiles:\n", "http://ghe.example.com/api/v3/",
			[]string{`pipeline.yaml:12:11: publish.remote: "http://github.com/o/r.git" is plain http`,
				`pipeline.yaml:13:12: publish.api_url: "http://ghe.example.com/api/v3/" (from ${TEST_API}) is plain http to ghe.example.com`}},
		{"loopback", "profiles:\n", "publish:\n  remote: http://127.0.0.2:8080/r.git\n  api_url: ${TEST_API}\n  upload_url: http://localhost:1/\nprofiles:\n", "http://[::1]:4321/api/v3/", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv("TEST_API", c.env)
			doc := strings.Replace(valid, c.old, c.new, 1)
			_, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc))
			if len(c.want) == 0 {
				if err != nil {
					t.Errorf("Parse = %v; want loopback http accepted", err)
				}
				return
			}
			for _, want := range c.want {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("Parse = %v; want an error containing %q", err, want)
				}
			}
		})
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{"", 0, ""},
		{"8GiB", 8 << 30, ""},
		{"256 MiB", 256 << 20, ""},
		{"1073741824", 1 << 30, ""},
		{"512B", 512, ""},
		{"2TiB", 2 << 40, ""},
		{"8GB", 0, `"8GB" is not a size`},
		{"-1", 0, `"-1" is not a size`},
		{"0", 0, `"0" is not a size`},
		{"1.5GiB", 0, `"1.5GiB" is not a size`},
		{"9000000000TiB", 0, "more bytes than can be counted"},
	} {
		got, err := ParseSize(tc.in)
		if got != tc.want || (err == nil) != (tc.err == "") || err != nil && !strings.Contains(err.Error(), tc.err) {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestUpstreamCaps(t *testing.T) {
	u := Upstream{MaxUnpacked: "4GiB"}
	if unpacked, entry := u.Caps(); unpacked != 4<<30 || entry != 0 {
		t.Errorf("Upstream{max_unpacked: 4GiB}.Caps() = %d, %d; want 4 GiB and 0 (the default) for one entry", unpacked, entry)
	}
}

// The series, the caps and the features are read by the steps given, where validation reaches
// them, and their errors come with validation's, at their keys (a feature's at its entry of the
// list); without steps nothing reads them.
func TestStepsRunWhereTheirInputResolved(t *testing.T) {
	t.Setenv("TEST_KORG", "/srv/korg")
	dir := fixture(t)
	var series []string
	var caps []Upstream
	var features [][]string
	steps := Steps{
		Series: func(path string) error { series = append(series, path); return fmt.Errorf("patch 0002 does not exist") },
		Caps:   func(u Upstream) error { caps = append(caps, u); return nil },
		Features: func(_ *Pipeline, names, arches []string) ([]*feature.Feature, error) {
			features = append(features, append(slices.Clone(names), arches...))
			return nil, errors.Join(&ItemError{Index: 1, Err: errors.New("no such feature")}, errors.New("configs/features is unreadable"))
		},
	}
	doc := strings.Replace(valid, "  keyring: keys.asc", "  keyring: keys.asc\n  max_entry: 1MiB", 1)
	doc = strings.Replace(doc, "[configs/smoke.config]", "[configs/smoke.config]\n      features: [fuse, fusee]", 1)
	_, err := ParseWith(filepath.Join(dir, "pipeline.yaml"), []byte(doc), steps)
	for _, want := range []string{"pipeline.yaml:23:14: profiles.smoke.patches: patch 0002 does not exist",
		"pipeline.yaml:22:24: profiles.smoke.config.features[1]: no such feature", "pipeline.yaml:22:17: profiles.smoke.config.features: configs/features is unreadable"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseWith() error = %v, want %q", err, want)
		}
	}
	if want := [][]string{{"fuse", "fusee", "x86_64"}}; !slices.EqualFunc(features, want, slices.Equal) {
		t.Errorf("Features step saw %q, want the names then the arches %q", features, want)
	}
	if want := []string{filepath.Join(dir, "patches/series")}; !slices.Equal(series, want) {
		t.Errorf("Series step read %q, want %q", series, want)
	}
	if len(caps) != 2 || caps[0].MaxEntry != "1MiB" {
		t.Errorf("Caps step saw %+v, want the top upstream (max_entry 1MiB) then the smoke profile's", caps)
	}
	if _, err := Parse(filepath.Join(dir, "pipeline.yaml"), []byte(doc)); err != nil {
		t.Errorf("Parse() without steps = %v", err)
	}
}

// A size never panics, and one it takes is positive.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"8GiB", "1", "256 MiB", "9223372036854775807", "9223372036854775808", "8GB", "-1", " 1 KiB ", "0x10"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err == nil && n < 0 {
			t.Errorf("ParseSize(%q) = %d", s, n)
		}
		if err != nil && n != 0 {
			t.Errorf("ParseSize(%q) = %d, %v: a size with an error", s, n, err)
		}
	})
}
