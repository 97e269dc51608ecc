// Package pipeline runs a release line: it resolves the upstream release (plan.go), then walks
// the stage table (stages.go) in order: fetch, patch, configure, branch, build, modules, headers,
// initrd, boot, conformance, assemble, package. Each command (run, plan, status, verify, boot,
// package...) is a mode that walks the rows it needs (modes.go); the executor runs each row
// through the cache and writes the manifest that kpublish reads.
package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/payload"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Options are where a run keeps its files and how it reports.
type Options struct {
	WorkDir  string // source trees, build trees, outputs
	CacheDir string // upstream mirrors, shared between work dirs
	Jobs     int
	Out      io.Writer // one line per phase
	Progress io.Writer // live progress (a terminal); nil for none
	Runner   runner.Runner
	// Force runs every stage, even those whose inputs did not change since the last run.
	Force bool
	// Sequential runs each arch through the build rows in turn, never one arch's boot beside
	// another's compile (see overlapped): to compare, or to read one arch's log at a time.
	Sequential bool
	// Arches, when set, are the only arches run builds and boots (every arch is still configured).
	Arches []string
	// Payloads: kbuild verify packages its rebuild too and compares the payloads.
	Payloads bool
	// VerifyIn names the folder under the work dir kbuild verify rebuilds in, and its compiler
	// cache (ccache-<name> in the cache dir); default "verify". Two names, two clean builds.
	VerifyIn string
	// VerifyUncached: kbuild verify --no-cache compiles its rebuild without a compiler cache
	// (distcc, if the profile uses it, still compiles), so no object it compares went through one.
	VerifyUncached bool
	// Chosen says how the caller chose the release, when it did (kbuild: "given by --release");
	// empty: the line's own upstream.pin or the newest of its track.
	Chosen string
}

// Plan is what a run will do, resolved before anything is fetched or built.
type Plan struct {
	Line          *config.Line
	Release       version.Release
	Version       version.Version
	KernelRelease string
	Branch, Tag   string
	Arches        []kbuild.Arch
	OutDir        string
	workDir       string // where the source and build trees go (Options.WorkDir)
	// InputsDigest identifies the release's upstream, patches and configs (InputsDigest); Revision
	// says how the published state set the revision.
	InputsDigest string
	Revision     Revision
	// Chosen says where Release came from: the caller, upstream.pin (and where it is), or the
	// newest of the track in releases.json or the tags.
	Chosen string
	// Refused are the newer tags passed over because fetch would refuse them (resolve: tags).
	Refused []error
	// Signer signs the payloads as package.signing and the environment (WSLKERNEL_SIGN_*) name
	// it; nil: unsigned. Supersedes is the version the payloads replace: the newest earlier
	// version built in the work dir, or as kbuild package --supersedes says. Both are resolved
	// here, so plan shows them and the package stage's key holds them.
	Signer     *payload.Signer
	Supersedes string
}

// NewPlan resolves the upstream release and the version to build.
func NewPlan(ctx context.Context, line *config.Line, opts Options) (*Plan, error) {
	if opts.WorkDir != "" {
		if err := CheckBuildPath("the work dir", opts.WorkDir); err != nil {
			return nil, err
		}
	}
	resolved, err := resolve(ctx, line)
	if err != nil {
		return nil, err
	}
	rel := resolved.Release
	digest := InputsDigest(line, rel)
	revision := decideRevision(ctx, line, rel, digest, opts.CacheDir)
	v := version.Version{Upstream: rel, Rev: revision.Rev}
	p := &Plan{Line: line, Release: rel, Version: v, KernelRelease: v.KernelRelease(line.Pipeline.Version.LocalVersion),
		InputsDigest: digest, Revision: revision, Chosen: chosen(line, opts), Refused: resolved.Refused}
	if p.Branch, err = version.Expand(line.Pipeline.Version.Branch, v); err != nil {
		return nil, err
	}
	if p.Tag, err = version.Expand(line.Pipeline.Version.Tag, v); err != nil {
		return nil, err
	}
	for _, name := range line.Profile.Arches {
		a, err := kbuild.LookupArch(name)
		if err != nil {
			return nil, err
		}
		p.Arches = append(p.Arches, a)
	}
	p.OutDir = filepath.Join(opts.WorkDir, "out", line.Name, v.String())
	p.workDir = opts.WorkDir
	if len(line.Profile.Package.Formats) > 0 {
		p.Signer = signerFor(line.Profile.Package.Signing)
		p.Supersedes = previousVersion(filepath.Dir(p.OutDir), v)
	}
	return p, nil
}

// chosen says truthfully where the release came from: the caller (--release), upstream.pin with
// its place in pipeline.yaml, or the newest of the track in releases.json or the tags.
func chosen(l *config.Line, opts Options) string {
	switch {
	case opts.Chosen != "":
		return opts.Chosen
	case l.Upstream.Pin != "":
		key := "upstream.pin"
		if l.Profile.Upstream != nil {
			key = "profiles." + l.Name + ".upstream.pin"
		}
		return fmt.Sprintf("pinned by %s at %s:%d", key, l.Pipeline.File, l.Pipeline.Pos(key).Line)
	case l.Upstream.Resolve == "tags":
		return fmt.Sprintf("newest of %s in the tags of %s", l.Track(), l.Upstream.Git)
	}
	return fmt.Sprintf("newest of %s in %s", l.Track(), l.Upstream.Releases)
}

// Print says what Run would do, without doing it: each stage described.
func (p *Plan) Print(w io.Writer) { p.print(w, false) }

// PrintCommands is Print with, under each stage, the command lines it would run (kbuild plan).
func (p *Plan) PrintCommands(w io.Writer) { p.print(w, true) }

func (p *Plan) print(w io.Writer, commands bool) {
	l := p.Line
	fmt.Fprintf(w, "line     %s, profile %s, following %s\n", l.Pipeline.Name, l.Name, l.Track())
	fmt.Fprintf(w, "upstream %s (%s)\n", p.Release.Tag(), p.Chosen)
	printRefused(w, p.Refused)
	fmt.Fprintf(w, "version  %s, uname -r %s\n", p.Version, p.KernelRelease)
	fmt.Fprintf(w, "         %s\n", p.Revision.Why)
	fmt.Fprintf(w, "publish  branch %s, tag %s\n", p.Branch, p.Tag)
	fmt.Fprintf(w, "stages:\n")
	p.printStages(w, commands)
	fmt.Fprintf(w, "  manifest   %s\n", filepath.Join(p.OutDir, "manifest.json"))
}

// printStages walks the stage table in plan mode: every stage the profile has, described, with
// the command lines it would run, as runner.DryRun prints them from the code that runs them.
func (p *Plan) printStages(w io.Writer, commands bool) {
	r := newRun(p, Options{WorkDir: p.workDir, Runner: &runner.DryRun{Out: commandLines{w}}}, inPlan)
	if p.Line.Upstream.Source != "tarball" {
		r.st.src = r.worktree().Dir
	}
	r.walk(context.Background(), func(ctx context.Context, s *stage, ar *archRun) error {
		what := s.describe(p, archOf(ar))
		if what == "" {
			return nil
		}
		if ar != nil {
			what = "[" + ar.a.Name + "] " + what
		}
		fmt.Fprintf(w, "  %-10s %s\n", s.name, what)
		if commands && s.rehearse != nil {
			return s.rehearse(ctx, r, ar)
		}
		return nil
	})
}

// commandLines indents the dry run's command lines under the stage they belong to.
type commandLines struct{ w io.Writer }

func (c commandLines) Write(b []byte) (int, error) {
	_, err := fmt.Fprintf(c.w, "%13s$ %s", "", b)
	return len(b), err
}

func archOf(ar *archRun) kbuild.Arch {
	if ar == nil {
		return kbuild.Arch{}
	}
	return ar.a
}

// CheckArches reports an arch that is not the line's profile's: a --arch it cannot take, known
// before anything is resolved.
func CheckArches(l *config.Line, names []string) error {
	for _, n := range names {
		if !slices.Contains(l.Profile.Arches, n) {
			return fmt.Errorf("--arch %s: profile %s builds %s", n, l.Name, strings.Join(l.Profile.Arches, ", "))
		}
	}
	return nil
}

// OnlyArches narrows the plan to the named arches, which must be the profile's; none keeps all.
func (p *Plan) OnlyArches(names []string) error {
	if len(names) == 0 {
		return nil
	}
	if err := CheckArches(p.Line, names); err != nil {
		return err
	}
	var keep []kbuild.Arch
	for _, n := range names {
		keep = append(keep, p.Arches[slices.IndexFunc(p.Arches, func(a kbuild.Arch) bool { return a.Name == n })])
	}
	p.Arches = keep
	return nil
}
