// Package config is the model of pipeline.yaml, the one description of a release line, and its
// strict loader: every error names file:line:column, the key, and what was expected.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wslkernel/wslkernel/internal/arch"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Pipeline is pipeline.yaml. Series, upstream, version scheme and publishing target are shared by
// every profile; a profile says what to build (and may point at another upstream, as the smoke
// profile does for the local kernel.org).
type Pipeline struct {
	Name     string              `yaml:"name" required:"true"`
	Series   string              `yaml:"series" required:"true"` // "6.12", or longterm or stable to follow kernel.org
	Upstream Upstream            `yaml:"upstream" required:"true"`
	Version  Scheme              `yaml:"version" required:"true"`
	Publish  Publish             `yaml:"publish"`
	Profiles map[string]*Profile `yaml:"profiles" required:"true"`

	// File is the absolute path of the file read; relative paths in it resolve against its folder.
	File string `yaml:"-"`
	pos  map[string]Pos
	// unset holds, per profile, references to environment variables that are not set: an error
	// only when that profile is selected, so the smoke profile's ${KERNEL_ORG} does not stop
	// anyone building the wsl profile.
	unset      map[string][]error
	featureSet *feature.Set
}

// Upstream says where releases come from and whom to trust.
type Upstream struct {
	Resolve       string   `yaml:"resolve"`                  // where releases are listed: releases (default) or tags
	Source        string   `yaml:"source"`                   // what is fetched: git (default) or tarball
	Tarballs      string   `yaml:"tarballs"`                 // base URL of kernel.org's tarballs (…/pub/linux/kernel), for source: tarball
	Releases      string   `yaml:"releases" required:"true"` // URL of kernel.org's releases.json
	Git           string   `yaml:"git" required:"true"`      // the stable repository
	Keyring       string   `yaml:"keyring" required:"true"`  // armored OpenPGP public keys
	Signers       []string `yaml:"signers"`                  // fingerprints allowed to sign tags; empty: any key in the keyring
	Pin           string   `yaml:"pin"`                      // build this release rather than the newest of the series
	AllowUnsigned bool     `yaml:"allow_unsigned"`           // enthusiasts only: build tags nobody signed
	// Caps on what one fetch may unpack before its signature holds, as a size ("8GiB", "256MiB")
	// or bytes; empty: the fetcher's defaults (upstream.DefaultMaxUnpacked and DefaultMaxEntry).
	MaxUnpacked string `yaml:"max_unpacked"` // all files (tarball) or inflated objects (git) together
	MaxEntry    string `yaml:"max_entry"`    // one file or one object
}

// Caps are max_unpacked and max_entry in bytes, 0 where empty; validation has checked they parse.
func (u Upstream) Caps() (maxUnpacked, maxEntry int64) {
	maxUnpacked, _ = ParseSize(u.MaxUnpacked)
	maxEntry, _ = ParseSize(u.MaxEntry)
	return maxUnpacked, maxEntry
}

// sizeUnits are the suffixes ParseSize takes. Only binary units: "GB" could mean either.
var sizeUnits = []struct {
	suffix string
	scale  int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}, {"", 1}}

// ParseSize reads a size of bytes written as a whole number with an optional binary unit:
// "8GiB", "256 MiB", "1073741824". Empty is 0 (the default).
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	for _, u := range sizeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(num), 10, 64)
		if err != nil || n <= 0 {
			break
		}
		if n > math.MaxInt64/u.scale {
			return 0, fmt.Errorf("%q is more bytes than can be counted", s)
		}
		return n * u.scale, nil
	}
	return 0, fmt.Errorf("%q is not a size: write a positive whole number of bytes, or one with KiB, MiB, GiB or TiB (such as 8GiB)", s)
}

// Scheme is the version scheme: "<x.y.z>.<rev>" plus a local version, and the names of what we publish.
type Scheme struct {
	LocalVersion string `yaml:"localversion" required:"true"` // e.g. -microsoft-standard-WSL2
	Branch       string `yaml:"branch" required:"true"`       // e.g. linux-msft-wsl-{series}.y
	Tag          string `yaml:"tag" required:"true"`          // e.g. linux-msft-wsl-{version}
}

// Publish is the release's destination.
type Publish struct {
	Repo      string `yaml:"repo"`       // owner/name on GitHub
	APIURL    string `yaml:"api_url"`    // GitHub Enterprise API base URL; empty for github.com
	UploadURL string `yaml:"upload_url"` // GitHub Enterprise upload URL
	Remote    string `yaml:"remote"`     // git URL that the branch and tag are pushed to
	// CVERecords is a local copy of the kernel CNA's published CVE records (its vulns
	// repository's cve/published), for the CVEs-fixed section of the release notes.
	CVERecords string `yaml:"cve_records"`
}

// Profile is one kind of build of the line.
type Profile struct {
	Upstream *Upstream `yaml:"upstream"`
	Arches   []string  `yaml:"arches" required:"true"`
	Config   Kconfig   `yaml:"config" required:"true"`
	Patches  string    `yaml:"patches"` // quilt series file
	// PatchFuzz lets a hunk that matches nowhere exactly ignore up to this many context lines at
	// each end (patch -F); 0, the default, means exact context only.
	PatchFuzz int    `yaml:"patch_fuzz"`
	Build     Build  `yaml:"build"`
	Initrd    Initrd `yaml:"initrd" required:"true"`
	Boot      Boot   `yaml:"boot"`
	// Conformance, when set, boots each x86_64 kernel with a real Debian userland and runs one
	// probe per feature before anything is packaged.
	Conformance *Conformance `yaml:"conformance"`
	Package     Package      `yaml:"package"`
}

// Kconfig is a base configuration and the fragments merged over it, in order: Fragments, then
// the fragments of the Features, then ArchFragments.
type Kconfig struct {
	Base string `yaml:"base" required:"true"` // a make target (tinyconfig, defconfig) or a file
	// ArchBase replaces Base on one arch: arm64's defconfig carries thousands of SoC drivers no
	// WSL VM has, so the wsl profile starts arm64 from allnoconfig.
	ArchBase  map[string]string `yaml:"arch_base"`
	Fragments []string          `yaml:"fragments"`
	// Features name fragments of configs/features/ (beside pipeline.yaml): what users get, each
	// with the symbols its policy checks. They are merged in the order listed, after Fragments,
	// so a feature wins over a size trim, and before ArchFragments, so an arch can still say the
	// last word.
	Features []string `yaml:"features"`
	// ArchFragments are merged after Fragments and Features, for one arch only.
	ArchFragments map[string][]string `yaml:"arch_fragments"`
	// Strict (the default) fails the configure stage when olddefconfig dropped a requested value;
	// false turns that into warnings.
	Strict *bool `yaml:"strict"`
	// Policy is a file of values the final config must hold, per arch, with the reason why.
	Policy string `yaml:"policy"`

	features []*feature.Feature // Features, resolved by the Features load step
}

// FragmentsFor lists the fragments merged for an arch, in order: Fragments, each feature's
// fragments for the arch (as the Features load step resolved them), ArchFragments.
func (k Kconfig) FragmentsFor(arch string) []string {
	out := slices.Clip(k.Fragments)
	for _, f := range k.features {
		out = append(out, f.FragmentsFor(arch)...)
	}
	return append(out, k.ArchFragments[arch]...)
}

// FeatureList is the profile's features, resolved, in the order listed.
func (k Kconfig) FeatureList() []*feature.Feature { return slices.Clip(k.features) }

// AddFeatures appends features to the profile's (for kbuild custom --feature), skipping any it
// has already.
func (k *Kconfig) AddFeatures(fs ...*feature.Feature) {
	for _, f := range fs {
		if !slices.Contains(k.features, f) {
			k.features = append(slices.Clip(k.features), f)
			k.Features = append(slices.Clip(k.Features), f.Name)
		}
	}
}

// FeaturePolicies are the policy rules of the profile's features on series s: each essential
// symbol the features' fragments set on s must hold the value they ask for (a module request is
// also met by a built-in). Check them on the final .config of a tree of series s as the
// profile's Policy is.
func (k Kconfig) FeaturePolicies(s version.Series) []*kconfig.Policy {
	return feature.Policies(k.features, s)
}

// IsStrict reports whether a dropped request fails the stage.
func (k Kconfig) IsStrict() bool { return k.Strict == nil || *k.Strict }

// BaseFor is the base configuration of an arch: ArchBase's entry, else Base.
func (k Kconfig) BaseFor(arch string) string {
	if b, ok := k.ArchBase[arch]; ok {
		return b
	}
	return k.Base
}

// BaseIsTarget reports whether Base names a make target rather than a file.
func (k Kconfig) BaseIsTarget() bool { return IsMakeTarget(k.Base) }

// IsMakeTarget reports whether a base names a make target (defconfig, allnoconfig) rather than
// a file.
func IsMakeTarget(base string) bool { return makeTarget.MatchString(base) }

var makeTarget = regexp.MustCompile(`^[a-z0-9_]*config$`)

// Build tunes the kernel build.
type Build struct {
	// Wrapper is the compiler wrapper: ccache (the default), distcc, ccache+distcc (ccache first,
	// distcc on a miss, through CCACHE_PREFIX) or none.
	Wrapper string `yaml:"wrapper"`
	// DistccHosts is DISTCC_HOSTS, one host spec each (e.g. "10.0.0.5/8,lzo"), for the distcc
	// wrappers.
	DistccHosts []string `yaml:"distcc_hosts"`
	Jobs        int      `yaml:"jobs"` // make -j; 0 means one per core (with distcc, plus 4 per remote host)
	// Headers also runs make headers_install, into <out>/<arch>/headers: the UAPI headers.
	Headers bool `yaml:"headers"`
}

// UsesDistcc reports whether the wrapper sends compilations to distcc.
func (b Build) UsesDistcc() bool { return strings.Contains(b.Wrapper, "distcc") }

// Initrd is the initramfs: a gen_init_cpio spec, plus Go programs built for the target arch and
// named in the spec as ${VARIABLE}.
type Initrd struct {
	Spec        string            `yaml:"spec" required:"true"`
	Programs    map[string]string `yaml:"programs"`
	Compression string            `yaml:"compression"` // gzip (default), zstd, xz or none
}

// Boot is the qemu smoke test.
type Boot struct {
	Timeout time.Duration `yaml:"timeout"` // default 180s
	Memory  string        `yaml:"memory"`  // default 256M
	Cmdline string        `yaml:"cmdline"` // appended to the kernel command line
	// Module is the module the init loads from modules.vhdx; by default the first in modules.dep
	// that needs no other. Only for profiles with CONFIG_MODULES=y.
	Module string `yaml:"module"`
}

// Conformance is the runtime conformance test: a Debian userland made from a package list (by
// mmdebstrap, cached by the list's and the guest files' hash) booted on the built kernel under
// qemu, with systemd as PID 1 and the modules disk overlaid as WSL's init does, running one probe
// per feature.
type Conformance struct {
	Packages string `yaml:"packages" required:"true"` // the userland's package list: one Debian package a line
	Guest    string `yaml:"guest" required:"true"`    // files copied over the userland: the probes and their units
	// Timeout bounds the whole boot (default 30m under emulation); ProbeTimeout each probe (120s).
	Timeout      time.Duration `yaml:"timeout"`
	ProbeTimeout time.Duration `yaml:"probe_timeout"`
	Memory       string        `yaml:"memory"` // default 2048M
	CPUs         int           `yaml:"cpus"`   // default 2
	// Probes names the probes to run (feature/probe); all of them when empty.
	Probes []string `yaml:"probes"`
}

// Package lists the Windows payloads to make.
type Package struct {
	Formats []string `yaml:"formats"` // cab, msi, nuget
	Product string   `yaml:"product"`
	NugetID string   `yaml:"nuget_id"` // default Microsoft.WSL.Kernel
	// NugetRevision is the NuGet version's suffix (6.12.118.1-1, -2 for a re-spin of the same
	// kernel, as Microsoft ships); default 1.
	NugetRevision   int      `yaml:"nuget_revision"`
	MinWindowsBuild int      `yaml:"min_windows_build"` // default 19041
	Signing         *Signing `yaml:"signing"`           // absent: unsigned payloads, marked so
	// OpenPGPKey is an armored, unprotected private key that signs SHA256SUMS (SHA256SUMS.asc).
	OpenPGPKey string `yaml:"openpgp_key"`
	// ModulesDisk is the layout of the modules disk the payloads carry: flat (the default: the
	// ext4 root is lib/modules/<release>, as modules.vhdx and modules.vhd, what WSL releases
	// mount today) or artifacts (artifacts.vhd, a fixed VHD whose root holds <release>/modules
	// and <release>/linux-headers, the layout WSL's branch for kernel 6.18.40.1 mounts at
	// /lib/modules/<release> and /usr/src/linux-headers-<release>). See ModulesDiskLayout.
	ModulesDisk string `yaml:"modules_disk"`
}

// The modules disk layouts package.modules_disk names.
const (
	ModulesDiskFlat      = "flat"
	ModulesDiskArtifacts = "artifacts"
)

// ModulesDiskLayout is package.modules_disk, flat when unset.
func (pk Package) ModulesDiskLayout() string {
	if pk.ModulesDisk == "" {
		return ModulesDiskFlat
	}
	return pk.ModulesDisk
}

// Signing is the Authenticode signer for CAB and MSI: a PKCS#12 bundle, or a PEM certificate
// and key, or an external command. The environment overrides the files (WSLKERNEL_SIGN_PKCS12,
// WSLKERNEL_SIGN_CERT, WSLKERNEL_SIGN_KEY), so a CI secret needs no edit here.
type Signing struct {
	PKCS12 string `yaml:"pkcs12"`
	// PasswordEnv names the variable holding the PKCS#12 password (default WSLKERNEL_SIGN_PASSWORD);
	// a password is never written in pipeline.yaml.
	PasswordEnv string   `yaml:"password_env"`
	Cert        string   `yaml:"cert"`
	Key         string   `yaml:"key"`
	Command     []string `yaml:"command"` // e.g. [sign-with-hsm, "{in}", "{out}"]
	// TimestampURL is an RFC 3161 time-stamping authority (http or https) that countersigns each
	// signature, so it stays valid after the certificate expires; WSLKERNEL_SIGN_TSA overrides it.
	// Timestamped payloads are not byte-reproducible (the TSA's time is in them).
	TimestampURL string `yaml:"timestamp_url"`
}

func wrapperOr(w string) string {
	if w == "" {
		return "ccache"
	}
	return w
}

// Arches the pipeline knows how to build: the arch table's names.
var Arches = arch.Names()

var (
	packageFormats = []string{"cab", "msi", "nuget"}
	modulesDisks   = []string{ModulesDiskFlat, ModulesDiskArtifacts}
	wrappers       = []string{"ccache", "distcc", "ccache+distcc", "none"}
	compressions   = []string{"gzip", "zstd", "xz", "none"}
	profileName    = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	envName        = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	localVersion   = regexp.MustCompile(`^-[A-Za-z0-9._-]+$`)
	fingerprint    = regexp.MustCompile(`^[0-9A-F]{40}$`)
	repoName       = regexp.MustCompile(`^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$`)
)

// Steps are the load steps of the packages above config: each reads what pipeline.yaml names in
// a format config does not model (a quilt series, the fetcher's caps, the features of
// configs/features) and says what is wrong with it. Validation runs them where it has resolved
// what they read, so their errors come with its own, at the key they concern; config itself
// imports none of those packages. A nil step is skipped.
type Steps struct {
	// Series reads a profile's patch series, once its path resolved.
	Series func(path string) error
	// Caps checks an upstream's max_unpacked and max_entry together, once both parse.
	Caps func(u Upstream) error
	// Features resolves a profile's config.features (names, in the order listed) for the
	// profile's arches, once those are checked; what it returns is what FragmentsFor,
	// FeatureList and FeaturePolicies give. An error about one name is an *ItemError, reported
	// at that name's key; any other at config.features. Without it a profile has no features.
	Features func(p *Pipeline, names, arches []string) ([]*feature.Feature, error)
}

// ItemError is a step's error about one entry of the list it was given, which validation
// reports at that entry's key (config.features[1]) rather than the list's.
type ItemError struct {
	Index int
	Err   error
}

func (e *ItemError) Error() string { return e.Err.Error() }
func (e *ItemError) Unwrap() error { return e.Err }

// Load reads and validates pipeline.yaml, without the load steps of higher packages (see
// LoadWith). All problems found are returned together.
func Load(file string) (*Pipeline, error) { return LoadWith(file, Steps{}) }

// Parse is Load on bytes already read; file names the source in errors and anchors relative paths.
func Parse(file string, data []byte) (*Pipeline, error) { return ParseWith(file, data, Steps{}) }

// LoadWith is Load with the steps run as validation reaches what they read.
func LoadWith(file string, steps Steps) (*Pipeline, error) {
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, err
	}
	data, err := os.ReadFile(abs)
	if err != nil {
		return nil, fmt.Errorf("pipeline: %w", err)
	}
	return ParseWith(abs, data, steps)
}

// ParseWith is LoadWith on bytes already read.
func ParseWith(file string, data []byte, steps Steps) (*Pipeline, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	p := &Pipeline{File: file}
	d := &decoder{file: file, pos: map[string]Pos{}}
	d.decode(&root, reflect.ValueOf(p).Elem(), "")
	if err := joinErrors(d.errs); err != nil {
		return nil, err
	}
	p.pos = d.pos
	v := &validator{p: p, steps: steps}
	v.validate()
	if err := joinErrors(v.errs); err != nil {
		return nil, err
	}
	return p, nil
}

// Pos is where a key's value stood in pipeline.yaml, e.g. Pos("version.localversion").
func (p *Pipeline) Pos(path string) Pos { return p.pos[path] }

// posNear is the position of path, or of the nearest enclosing key for one that is absent.
func (p *Pipeline) posNear(path string) Pos {
	for {
		if pos, ok := p.pos[path]; ok {
			return pos
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return Pos{Line: 1, Column: 1}
		}
		path = path[:i]
	}
}

// Dir is the folder pipeline.yaml is in.
func (p *Pipeline) Dir() string { return filepath.Dir(p.File) }

// FeatureDir is where the features are: configs/features beside pipeline.yaml.
func (p *Pipeline) FeatureDir() string { return filepath.Join(p.Dir(), "configs", "features") }

// Features loads the features of FeatureDir (once).
func (p *Pipeline) Features() (*feature.Set, error) {
	if p.featureSet == nil {
		set, err := feature.Load(p.FeatureDir(), Arches)
		if err != nil {
			return nil, err
		}
		p.featureSet = set
	}
	return p.featureSet, nil
}

// WorkDir is where kbuild keeps source trees, build trees and outputs: flag when given, else
// .work beside pipeline.yaml.
func (p *Pipeline) WorkDir(flag string) string {
	if flag != "" {
		return flag
	}
	return filepath.Join(p.Dir(), ".work")
}

// Rel gives a path relative to the pipeline's folder, for manifests and messages.
func (p *Pipeline) Rel(path string) string {
	if r, err := filepath.Rel(p.Dir(), path); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return path
}

// ProfileNames lists the profiles, sorted.
func (p *Pipeline) ProfileNames() []string {
	var names []string
	for n := range p.Profiles {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Line is one profile of the pipeline with everything it inherits filled in: what a run builds.
type Line struct {
	Pipeline *Pipeline
	Name     string // the profile's name
	Base     string // the profile a derived line (kbuild custom's) was made from; empty for pipeline.yaml's
	Upstream Upstream
	Profile  *Profile
}

// Select resolves a profile.
func (p *Pipeline) Select(name string) (*Line, error) {
	prof, ok := p.Profiles[name]
	if !ok {
		return nil, fmt.Errorf("%s: no profile %q (profiles: %s)", p.File, name, strings.Join(p.ProfileNames(), ", "))
	}
	if err := joinErrors(p.unset[name]); err != nil {
		return nil, err
	}
	up := p.Upstream
	if prof.Upstream != nil {
		up = *prof.Upstream
	}
	return &Line{Pipeline: p, Name: name, Upstream: up, Profile: prof}, nil
}

// Track is what the line follows: a series such as 6.12, or a moniker (longterm, stable).
func (l *Line) Track() version.Track {
	t, _ := version.ParseTrack(l.Pipeline.Series) // validated at load
	return t
}

type validator struct {
	p       *Pipeline
	steps   Steps
	errs    []error
	profile string // the profile being validated, "" at top level
}

// unsetVar records a reference to an unset environment variable: at top level an error now, in a
// profile an error when the profile is selected.
func (v *validator) unsetVar(key string, err error) {
	if v.profile == "" {
		v.at(key, "%v", err)
		return
	}
	pos := v.p.posNear(key)
	if v.p.unset == nil {
		v.p.unset = map[string][]error{}
	}
	v.p.unset[v.profile] = append(v.p.unset[v.profile], &Error{File: v.p.File, Line: pos.Line, Column: pos.Column, Path: key, Msg: err.Error()})
}

func (v *validator) at(path, format string, args ...any) {
	pos := v.p.posNear(path)
	v.errs = append(v.errs, &Error{File: v.p.File, Line: pos.Line, Column: pos.Column, Path: path, Msg: fmt.Sprintf(format, args...)})
}

// expand replaces the ${VAR} references in a field's value; ok is false when the value is empty
// or names an unset variable (recorded as unsetVar says), and there is nothing to check.
func (v *validator) expand(key, val string) (expanded string, ok bool) {
	if val == "" {
		return "", false
	}
	expanded, err := expandEnv(val)
	if err != nil {
		v.unsetVar(key, err)
		return "", false
	}
	return expanded, true
}

// path resolves a file named in pipeline.yaml and checks that it exists, of the kind wanted.
func (v *validator) path(key string, val *string, dir bool) {
	expanded, ok := v.expand(key, *val)
	if !ok {
		return
	}
	abs := expanded
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(v.p.Dir(), abs)
	}
	info, err := os.Stat(abs)
	switch {
	case err != nil:
		v.at(key, "%s does not exist", abs)
	case dir && !info.IsDir():
		v.at(key, "%s is not a folder", abs)
	case !dir && info.IsDir():
		v.at(key, "%s is a folder, expected a file", abs)
	default:
		*val = abs
	}
}

// url expands ${VAR} references in a URL or path field. A plain path is made absolute.
func (v *validator) url(key string, val *string, required bool) {
	if *val == "" && required {
		v.at(key, "must not be empty")
	}
	expanded, ok := v.expand(key, *val)
	if !ok {
		return
	}
	if expanded == "" { // ${VAR:-} with VAR unset: the field is unset, not this folder
		if required {
			v.at(key, "%s is empty", *val)
		}
		*val = ""
		return
	}
	if !strings.Contains(expanded, "://") && !filepath.IsAbs(expanded) {
		expanded = filepath.Join(v.p.Dir(), expanded)
	}
	if !v.notCleartext(key, *val, expanded) {
		return
	}
	*val = expanded
}

// notCleartext refuses a URL over which the GitHub token, a pushed release or the code we build
// (and its signature's keyring) would cross the network in clear or unauthenticated, for anyone
// on the way to read or change: a URL must be https, ssh or file (or a path), or plain http to
// this machine's loopback (a test server on 127.0.0.1). git:// is refused like http://, and so
// is any other scheme. raw is the value as written, named when ${VAR} expansion made the URL.
func (v *validator) notCleartext(key, raw, expanded string) bool {
	if !strings.Contains(expanded, "://") {
		return true // a path
	}
	from := ""
	if raw != expanded {
		from = fmt.Sprintf(" (from %s)", raw)
	}
	u, err := url.Parse(expanded) // its scheme in lower case
	switch {
	case err != nil:
		v.at(key, "%q%s is not a URL: %v", expanded, from, errors.Unwrap(err))
	case u.Scheme == "https" || u.Scheme == "ssh" || u.Scheme == "file":
		return true
	case u.Scheme == "http" && loopback(u.Hostname()):
		return true
	case u.Scheme == "http":
		v.at(key, "%q%s is plain http to %s: the token, the release or the code fetched would cross the network in clear; use https (plain http is allowed only to a loopback host: 127.0.0.0/8, ::1, localhost)", expanded, from, u.Host)
	case u.Scheme == "git":
		v.at(key, "%q%s is git:// to %s: the git protocol is neither encrypted nor authenticated, so the code fetched would cross the network for anyone on the way to read or change; use https or ssh", expanded, from, u.Host)
	default:
		v.at(key, "%q%s is %s://, which is not one of https, ssh and file (nor plain http to a loopback host): use https or ssh", expanded, from, u.Scheme)
	}
	return false
}

// loopback says whether host is this machine by name or loopback address.
func loopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// webURL expands ${VAR} references in an optional http(s) URL (GitHub Enterprise's API and
// upload bases): unlike url, a plain path is a mistake here, not a file to make absolute.
func (v *validator) webURL(key string, val *string) {
	expanded, ok := v.expand(key, *val)
	if !ok {
		return
	}
	u, err := url.Parse(expanded)
	switch {
	case expanded == "": // ${VAR:-} with VAR unset: the field is left unset
		*val = ""
	case err != nil:
		v.at(key, "%q is not a URL: %v", expanded, errors.Unwrap(err))
	case (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.at(key, "%q is not an http or https URL (such as https://github.example.com/api/v3/)", expanded)
	case !v.notCleartext(key, *val, expanded):
	default:
		*val = expanded
	}
}

func (v *validator) oneOf(key, val string, allowed []string) {
	if val != "" && !slices.Contains(allowed, val) {
		v.at(key, "%q is not one of: %s", val, strings.Join(allowed, ", "))
	}
}

func (v *validator) validate() {
	p := v.p
	track, err := version.ParseTrack(p.Series)
	if err != nil {
		v.at("series", "%v", err)
	}
	v.upstream("upstream", &p.Upstream, track)
	v.path("publish.cve_records", &p.Publish.CVERecords, true)

	if !localVersion.MatchString(p.Version.LocalVersion) {
		v.at("version.localversion", "%q must start with '-' and hold only letters, digits, '.', '_' and '-'", p.Version.LocalVersion)
	}
	sample := version.Version{Upstream: version.Release{Major: 6, Minor: 12, Patch: 1}, Rev: 1}
	for key, tmpl := range map[string]string{"version.branch": p.Version.Branch, "version.tag": p.Version.Tag} {
		if _, err := version.Expand(tmpl, sample); err != nil {
			v.at(key, "%v", err)
		}
	}

	if p.Publish.Repo != "" && !repoName.MatchString(p.Publish.Repo) {
		v.at("publish.repo", "%q is not of the form owner/name", p.Publish.Repo)
	}
	v.webURL("publish.api_url", &p.Publish.APIURL)
	v.webURL("publish.upload_url", &p.Publish.UploadURL)
	v.url("publish.remote", &p.Publish.Remote, false)

	if len(p.Profiles) == 0 {
		v.at("profiles", "at least one profile is needed")
	}
	for _, name := range p.ProfileNames() {
		v.profile = name
		v.checkProfile("profiles."+name, name, p.Profiles[name], track)
	}
	v.profile = ""
}

func (v *validator) upstream(key string, u *Upstream, track version.Track) {
	v.oneOf(key+".resolve", u.Resolve, []string{"releases", "tags"})
	v.oneOf(key+".source", u.Source, []string{"git", "tarball"})
	if u.Source == "tarball" && u.Tarballs == "" {
		v.at(key+".tarballs", "is required with source: tarball (kernel.org's is https://cdn.kernel.org/pub/linux/kernel)")
	}
	v.url(key+".tarballs", &u.Tarballs, false)
	if u.Source == "tarball" && u.AllowUnsigned {
		v.at(key+".allow_unsigned", "tarballs are always verified against their .tar.sign; allow_unsigned applies to git tags only")
	}
	if u.Resolve == "tags" && track.Moniker != "" {
		v.at(key+".resolve", "following %q needs releases.json: tags do not say which release is %s", track.Moniker, track.Moniker)
	}
	v.url(key+".releases", &u.Releases, true)
	v.url(key+".git", &u.Git, true)
	v.url(key+".keyring", &u.Keyring, !u.AllowUnsigned)
	if _, err := ParseSize(u.MaxUnpacked); err != nil {
		v.at(key+".max_unpacked", "%v", err)
	}
	_, err := ParseSize(u.MaxEntry)
	if err != nil {
		v.at(key+".max_entry", "%v", err)
	}
	if err == nil && v.steps.Caps != nil {
		if err := v.steps.Caps(*u); err != nil {
			v.at(key+".max_entry", "%v", err)
		}
	}
	for i, f := range u.Signers {
		if !fingerprint.MatchString(f) {
			v.at(fmt.Sprintf("%s.signers[%d]", key, i), "%q is not a 40-digit upper-case hex OpenPGP fingerprint", f)
		}
	}
	if u.Pin != "" {
		r, err := version.ParseRelease(u.Pin)
		switch {
		case err != nil:
			v.at(key+".pin", "%v", err)
		case track.Moniker == "" && !track.Series.Contains(r) && track.Series != (version.Series{}):
			v.at(key+".pin", "%s is not in the series %s", u.Pin, track.Series)
		}
	}
}

func (v *validator) checkProfile(key, name string, pr *Profile, track version.Track) {
	if !profileName.MatchString(name) {
		v.at(key, "profile name %q must be lower-case letters, digits and '-'", name)
	}
	if pr.Upstream != nil {
		v.upstream(key+".upstream", pr.Upstream, track)
	}
	if len(pr.Arches) == 0 {
		v.at(key+".arches", "at least one arch is needed (%s)", strings.Join(Arches, ", "))
	}
	for i, a := range pr.Arches {
		k := fmt.Sprintf("%s.arches[%d]", key, i)
		v.oneOf(k, a, Arches)
		if slices.Index(pr.Arches, a) != i {
			v.at(k, "%q is listed twice", a)
		}
	}
	v.kconfig(key, pr)
	if pr.Patches != "" {
		before := len(v.errs)
		v.path(key+".patches", &pr.Patches, false)
		if len(v.errs) == before && v.steps.Series != nil {
			if err := v.steps.Series(pr.Patches); err != nil {
				v.at(key+".patches", "%v", err)
			}
		}
	}
	if pr.PatchFuzz < 0 || pr.PatchFuzz > 3 {
		v.at(key+".patch_fuzz", "%d is not a fuzz factor: 0 (exact context, the default) to 3", pr.PatchFuzz)
	}
	v.build(key, pr)
	v.path(key+".initrd.spec", &pr.Initrd.Spec, false)
	v.oneOf(key+".initrd.compression", pr.Initrd.Compression, compressions)
	for _, envKey := range sortedKeys(pr.Initrd.Programs) {
		k := key + ".initrd.programs." + envKey
		if !envName.MatchString(envKey) {
			v.at(k, "%q must be an upper-case variable name such as SMOKE_INIT", envKey)
		}
		pkg := pr.Initrd.Programs[envKey]
		v.path(k, &pkg, true)
		pr.Initrd.Programs[envKey] = pkg
	}

	v.runtime(key, pr)
	v.pkg(key, pr)
}

// kconfig checks a profile's config: its bases, fragments, features and policy.
func (v *validator) kconfig(key string, pr *Profile) {
	if !pr.Config.BaseIsTarget() {
		v.path(key+".config.base", &pr.Config.Base, false)
	}
	for _, a := range sortedKeys(pr.Config.ArchBase) {
		k := key + ".config.arch_base." + a
		v.profileArch(k, a, pr.Arches)
		if base := pr.Config.ArchBase[a]; !IsMakeTarget(base) {
			v.path(k, &base, false)
			pr.Config.ArchBase[a] = base
		}
	}
	for i := range pr.Config.Fragments {
		v.fragment(fmt.Sprintf("%s.config.fragments[%d]", key, i), &pr.Config.Fragments[i])
	}
	v.features(key+".config.features", pr)
	for _, a := range sortedKeys(pr.Config.ArchFragments) {
		k := key + ".config.arch_fragments." + a
		v.profileArch(k, a, pr.Arches)
		frags := pr.Config.ArchFragments[a]
		for i := range frags {
			v.fragment(fmt.Sprintf("%s[%d]", k, i), &frags[i])
		}
	}
	if pr.Config.Policy != "" {
		before := len(v.errs)
		v.path(key+".config.policy", &pr.Config.Policy, false)
		if len(v.errs) == before {
			if _, err := kconfig.LoadPolicy(pr.Config.Policy); err != nil {
				v.at(key+".config.policy", "%v", err)
			}
		}
	}
}

// fragment resolves a fragment's path and reads it, so that a bad line or "# series:" range is
// reported when the pipeline loads, not when configure first merges it.
func (v *validator) fragment(key string, path *string) {
	before := len(v.errs)
	v.path(key, path, false)
	if len(v.errs) == before {
		if _, err := kconfig.ParseFragmentFile(*path); err != nil {
			v.at(key, "%v", err)
		}
	}
}

// build checks a profile's compiler wrapper and jobs.
func (v *validator) build(key string, pr *Profile) {
	v.oneOf(key+".build.wrapper", pr.Build.Wrapper, wrappers)
	switch {
	case pr.Build.UsesDistcc() && len(pr.Build.DistccHosts) == 0:
		v.at(key+".build.wrapper", "%s needs build.distcc_hosts: the hosts that compile (e.g. [\"10.0.0.5/8\", localhost])", pr.Build.Wrapper)
	case !pr.Build.UsesDistcc() && len(pr.Build.DistccHosts) > 0:
		v.at(key+".build.distcc_hosts", "set, but build.wrapper is %q: use distcc or ccache+distcc", wrapperOr(pr.Build.Wrapper))
	}
	if pr.Build.Jobs < 0 {
		v.at(key+".build.jobs", "must not be negative")
	}
}

// runtime checks a profile's boot test and conformance test.
func (v *validator) runtime(key string, pr *Profile) {
	if pr.Boot.Timeout < 0 {
		v.at(key+".boot.timeout", "must not be negative")
	}
	if c := pr.Conformance; c != nil {
		v.path(key+".conformance.packages", &c.Packages, false)
		v.path(key+".conformance.guest", &c.Guest, true)
		if c.Timeout < 0 || c.ProbeTimeout < 0 || c.CPUs < 0 {
			v.at(key+".conformance", "timeout, probe_timeout and cpus must not be negative")
		}
		if !slices.Contains(pr.Arches, "x86_64") {
			v.at(key+".conformance", "runs on x86_64 (the measured qemu machine); the profile builds %s", strings.Join(pr.Arches, ", "))
		}
	}
}

// pkg checks a profile's package settings and signer.
func (v *validator) pkg(key string, pr *Profile) {
	if pr.Package.MinWindowsBuild < 0 {
		v.at(key+".package.min_windows_build", "must not be negative")
	}
	if pr.Package.NugetRevision < 0 {
		v.at(key+".package.nuget_revision", "must be 1 or more (the -N of the NuGet version); leave it out for 1")
	}
	v.path(key+".package.openpgp_key", &pr.Package.OpenPGPKey, false)
	if sg := pr.Package.Signing; sg != nil {
		k := key + ".package.signing"
		v.path(k+".pkcs12", &sg.PKCS12, false)
		v.path(k+".cert", &sg.Cert, false)
		v.path(k+".key", &sg.Key, false)
		ways := 0
		for _, set := range []bool{sg.PKCS12 != "", sg.Cert != "" || sg.Key != "", len(sg.Command) > 0} {
			if set {
				ways++
			}
		}
		switch {
		case ways != 1:
			v.at(k, "set exactly one of: pkcs12, cert and key, command")
		case (sg.Cert == "") != (sg.Key == ""):
			v.at(k, "cert and key go together")
		case len(sg.Command) > 0 && !strings.Contains(strings.Join(sg.Command, " "), "{in}"):
			v.at(k+".command", "must name the file to sign as {in} and the signed file as {out}")
		}
		v.webURL(k+".timestamp_url", &sg.TimestampURL)
		if sg.PasswordEnv != "" && !envName.MatchString(sg.PasswordEnv) {
			v.at(k+".password_env", "%q is not an environment variable name", sg.PasswordEnv)
		}
	}
	for i, f := range pr.Package.Formats {
		v.oneOf(fmt.Sprintf("%s.package.formats[%d]", key, i), f, packageFormats)
	}
	v.oneOf(key+".package.modules_disk", pr.Package.ModulesDisk, modulesDisks)
}

// profileArch checks that a per-arch key names one of the profile's arches.
func (v *validator) profileArch(key, arch string, arches []string) {
	v.oneOf(key, arch, Arches)
	if !slices.Contains(arches, arch) {
		v.at(key, "%s is not one of the profile's arches (%s)", arch, strings.Join(arches, ", "))
	}
}

// features has the Features step resolve the profile's feature names, its errors at their keys.
func (v *validator) features(key string, pr *Profile) {
	if len(pr.Config.Features) == 0 || v.steps.Features == nil {
		return
	}
	fs, err := v.steps.Features(v.p, pr.Config.Features, pr.Arches)
	pr.Config.features = fs
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	for _, err := range errs {
		var item *ItemError
		switch {
		case err == nil:
		case errors.As(err, &item):
			v.at(fmt.Sprintf("%s[%d]", key, item.Index), "%v", item.Err)
		default:
			v.at(key, "%v", err)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
