package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// globals are the flags every command shares.
type globals struct {
	config   string
	profile  string
	workDir  string
	cacheDir string
	jobs     int
	release  string
	progress string
	chosen   string // how --release chose the release, once line has applied it
	stdout   io.Writer
	stderr   io.Writer
}

func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "kbuild",
		Short: "Build, configure and boot-test WSL kernels from kernel.org releases",
		Long: `kbuild runs the WSL kernel pipeline described by pipeline.yaml, up to packaging:
resolve the newest release of the followed series, fetch it and verify its signed tag,
apply patches/, merge configs/ and verify every requested option, build the kernel,
write the initrd and boot both in qemu. kpublish publishes what it made.

Exit codes: 0 success, 1 the pipeline failed, 2 bad usage or a bad pipeline.yaml;
check also exits 3 when there is nothing new upstream, and 4 when there is nothing new but the
followed series is end-of-life or a newer longterm series is out; port exits 5 while the line
does not configure clean on the series it is ported to.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	f := root.PersistentFlags()
	f.StringVarP(&g.config, "config", "c", "pipeline.yaml", "the pipeline description")
	f.StringVarP(&g.profile, "profile", "p", "wsl", "which profile of pipeline.yaml to build")
	f.StringVar(&g.workDir, "work-dir", "", "source trees, build trees and outputs (default: .work beside pipeline.yaml)")
	f.StringVar(&g.cacheDir, "cache-dir", cli.DefaultCacheDir(), "upstream mirrors, shared between work dirs")
	f.IntVarP(&g.jobs, "jobs", "j", 0, "parallel make jobs (default: pipeline.yaml's, else one per core)")
	f.StringVar(&g.progress, "progress", "auto", "live progress: auto (on a terminal), plain (one line per update, for logs), none")
	f.StringVar(&g.release, "release", "", "build this upstream release (X.Y.Z) instead of the newest; overrides upstream.pin")
	root.AddCommand(newRunCmd(g), newPlanCmd(g), newCheckCmd(g), newFetchCmd(g), newConfigureCmd(g), newConfigCmd(g), newPatchesCmd(g), newVerifyCmd(g), newBootCmd(g), newPackageCmd(g), newStatusCmd(g), newCustomCmd(g), newFeaturesCmd(g), newInstallCmd(g), newAssembleCmd(g), newPortCmd(g))
	return root
}

// line loads pipeline.yaml and selects the profile; problems with either are usage errors.
func (g *globals) line() (*config.Line, error) {
	if g.progress != "auto" && g.progress != "plain" && g.progress != "none" {
		return nil, cli.UsageError{Err: fmt.Errorf("--progress %q: auto, plain or none", g.progress)}
	}
	p, err := pipeline.Load(g.config)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	l, err := p.Select(g.profile)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	if g.release != "" {
		rel, err := version.ParseRelease(g.release)
		if err != nil {
			return nil, cli.UsageError{Err: fmt.Errorf("--release: %w", err)}
		}
		if t := l.Track(); t.Moniker == "" && !t.Series.Contains(rel) {
			return nil, cli.UsageError{Err: fmt.Errorf("--release %s is not in the series %s that %s follows", rel, t.Series, p.File)}
		}
		g.chosen = "given by --release"
		if l.Upstream.Pin != "" {
			g.chosen += ", over upstream.pin " + l.Upstream.Pin
		}
		l.Upstream.Pin = rel.String()
	}
	return l, nil
}

// plan loads the line and resolves what a run would do.
func (g *globals) plan(ctx context.Context) (*pipeline.Plan, pipeline.Options, error) {
	l, err := g.line()
	if err != nil {
		return nil, pipeline.Options{}, err
	}
	opts := g.options(l)
	plan, err := pipeline.NewPlan(ctx, l, opts)
	if errors.Is(err, upstream.ErrNoTag) {
		err = cli.UsageError{Err: err} // --release or upstream.pin names no release: exit 2, as check
	}
	return plan, opts, err
}

// planArches is plan for a command that takes --arch (run, boot, verify): an arch the profile
// does not build is a usage error (exit 2), said before anything is asked of upstream.
func (g *globals) planArches(ctx context.Context, arches []string) (*pipeline.Plan, pipeline.Options, error) {
	l, err := g.line()
	if err != nil {
		return nil, pipeline.Options{}, err
	}
	if err := pipeline.CheckArches(l, arches); err != nil {
		return nil, pipeline.Options{}, cli.UsageError{Err: err}
	}
	return g.plan(ctx)
}

func (g *globals) options(l *config.Line) pipeline.Options {
	work, _ := filepath.Abs(l.Pipeline.WorkDir(g.workDir))
	cache, _ := filepath.Abs(g.cacheDir)
	opts := pipeline.Options{WorkDir: work, CacheDir: cache, Jobs: g.jobs, Out: g.stdout, Chosen: g.chosen}
	switch {
	case g.progress == "plain":
		opts.Progress = pipeline.PlainProgress(g.stderr)
	case g.progress == "auto" && isTerminal(g.stderr):
		opts.Progress = g.stderr
	}
	return opts
}

// isTerminal reports whether w is a terminal, where live progress lines belong; logs and CI get
// one line per phase instead.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	info, err := f.Stat()
	return err == nil && info.Mode()&os.ModeCharDevice != 0
}
