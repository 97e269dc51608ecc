// Command kpublish publishes what kbuild made: it pushes the branch and tag and creates the GitHub
// release with the configs, payloads, checksums and manifest.
//
// Exit codes: 0 success; 1 publishing failed; 2 bad usage, a bad pipeline.yaml or manifest.
package main

import (
	"context"
	"errors"
	"io"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/publish"
)

func main() { cli.Main(run) }

// errNotYet is returned for a real publish, which this version cannot do yet.
var errNotYet = errors.New("publishing to GitHub is not implemented yet: use --dry-run to see what would be published")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var manifestPath, configPath string
	var dryRun bool
	root := &cobra.Command{
		Use:   "kpublish --manifest out/.../manifest.json [--dry-run]",
		Short: "Publish a kbuild run: branch, tag and GitHub release",
		Long: `kpublish reads the manifest.json that kbuild run wrote, checks every output against the
SHA-256 recorded there, and publishes: the branch and release tag, and a GitHub release with the
configs, payloads, checksums and manifest. --dry-run prints what it would do and does nothing.

Exit codes: 0 success, 1 publishing failed, 2 bad usage, pipeline.yaml or manifest.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := config.Load(configPath)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			rel, err := publish.FromManifest(manifestPath, p.Publish)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			if dryRun {
				rel.PrintDryRun(cmd.OutOrStdout())
				return nil
			}
			return errNotYet
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	f := root.Flags()
	f.StringVarP(&manifestPath, "manifest", "m", "", "manifest.json written by kbuild run (required)")
	f.StringVarP(&configPath, "config", "c", "pipeline.yaml", "the pipeline description (for the publish target)")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "print what would be published, change nothing")
	_ = root.MarkFlagRequired("manifest")
	return cli.Execute(ctx, "kpublish", root, args, stderr)
}
