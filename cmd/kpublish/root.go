package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/publish"
)

// globals are the flags every command shares: what to publish, and where from.
type globals struct {
	manifest, config, cacheDir, cveDir, profile, workDir string
}

// newRootCmd is kpublish itself, which publishes; its subcommand notes only prints.
func newRootCmd(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{}
	var dryRun, replace bool
	root := &cobra.Command{
		Use:   "kpublish [--manifest out/.../manifest.json] [--dry-run]",
		Short: "Publish a kbuild run: branch, tag and GitHub release",
		Long: `kpublish reads the manifest.json that kbuild run wrote (--manifest; default: the newest
successful run of --profile in the work dir, so cron can run kbuild check && kbuild run &&
kpublish), checks every output against the
SHA-256 recorded there, and publishes:
  - the release branch (publish.remote, from the upstream mirror where kbuild built it; each
    release rebuilds it on its upstream tag, so it is force-updated) and the annotated release
    tag on its head, sending only what the remote lacks; a tag already there naming anything
    else is never moved;
  - the GitHub release for the tag (publish.repo; GitHub Enterprise through publish.api_url and
    publish.upload_url), created or updated, never twice, with notes, the configs, payloads,
    SHA256SUMS and the manifest. An asset already there with the same SHA-256 is kept; one with
    other bytes is replaced only with --replace-assets; every upload is read back and checked.
Every GitHub call retries on 5xx, broken connections and rate limits; after any failure, running
kpublish again ends where one clean run would. The token comes from GITHUB_TOKEN and is never
printed. --dry-run makes only read calls and prints every write it would make.

Exit codes: 0 success, 1 publishing failed, 2 bad usage, pipeline.yaml or manifest.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.publish(cmd, publish.Options{ReplaceAssets: replace, DryRun: dryRun, Out: cmd.OutOrStdout()})
		},
	}
	root.AddCommand(newNotesCmd(g))
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&g.manifest, "manifest", "m", "", "manifest.json written by kbuild run (default: the newest successful run of --profile)")
	pf.StringVarP(&g.profile, "profile", "p", "wsl", "the profile whose newest run is published, without --manifest")
	pf.StringVar(&g.workDir, "work-dir", "", "kbuild's work dir, without --manifest (default: .work beside pipeline.yaml)")
	pf.StringVarP(&g.config, "config", "c", "pipeline.yaml", "the pipeline description (for the publish target)")
	pf.StringVar(&g.cacheDir, "cache-dir", cli.DefaultCacheDir(), "where kbuild keeps the upstream mirrors (the branch is pushed from there)")
	pf.StringVar(&g.cveDir, "cve-records", "", "a local copy of the kernel CNA's published CVE records (default: publish.cve_records)")
	f := root.Flags()
	f.BoolVarP(&dryRun, "dry-run", "n", false, "print what would be published, change nothing")
	f.BoolVar(&replace, "replace-assets", false, "replace release assets whose contents differ from ours")
	return root
}

// publish publishes the run, or with --dry-run and no token says what it would publish.
func (g *globals) publish(cmd *cobra.Command, opts publish.Options) error {
	run, err := g.load()
	if err != nil {
		return err
	}
	opts.Token = os.Getenv("GITHUB_TOKEN")
	if opts.Token == "" {
		if !opts.DryRun {
			return cli.UsageError{Err: errors.New("GITHUB_TOKEN is not set: kpublish needs a token that may push to publish.remote and write releases of publish.repo")}
		}
		// Offline: what would be published, without asking GitHub what is there.
		run.Release.PrintDryRun(opts.Out)
		return nil
	}
	r, err := run.Publish(cmd.Context(), opts)
	if err != nil {
		return usage(err)
	}
	if r.GetHTMLURL() != "" {
		fmt.Fprintf(opts.Out, "release  %s\n", r.GetHTMLURL())
	}
	return nil
}

// load reads pipeline.yaml and the manifest (without --manifest, the newest successful run of the
// profile), and plans the release; a problem with any of them is a usage error.
func (g *globals) load() (*publish.Run, error) {
	p, err := pipeline.Load(g.config)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	manifestPath := g.manifest
	if manifestPath == "" {
		_, dir, err := manifest.LatestRun(p.WorkDir(g.workDir), g.profile)
		if err != nil {
			return nil, cli.UsageError{Err: err}
		}
		manifestPath = filepath.Join(dir, "manifest.json")
	}
	cveDir := g.cveDir
	if cveDir == "" {
		cveDir = p.Publish.CVERecords
	}
	run, err := publish.Load(manifestPath, p.Publish, g.cacheDir, cveDir)
	if err != nil {
		return nil, cli.UsageError{Err: err}
	}
	return run, nil
}

// usage makes a publish.SetupError a usage error (exit 2); other errors are failures (exit 1).
func usage(err error) error {
	var setup publish.SetupError
	if errors.As(err, &setup) {
		return cli.UsageError{Err: err}
	}
	return err
}
