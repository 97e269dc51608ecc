// Command kpublish publishes what kbuild made: it pushes the branch and tag and creates the GitHub
// release with the configs, payloads, checksums and manifest.
//
// Exit codes: 0 success; 1 publishing failed; 2 bad usage, a bad pipeline.yaml or manifest.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/publish"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }

// errNotYet is returned for a real publish, which this version cannot do yet.
var errNotYet = errors.New("publishing to GitHub is not implemented yet: use --dry-run to see what would be published")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var manifestPath, configPath string
	var dryRun bool
	started := false // errors cobra raises before RunE (flags, arguments) are usage errors
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
			started = true
			p, err := config.Load(configPath)
			if err != nil {
				return usageError{err}
			}
			rel, err := publish.FromManifest(manifestPath, p.Publish)
			if err != nil {
				return usageError{err}
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
	root.SetArgs(args)
	f := root.Flags()
	f.StringVarP(&manifestPath, "manifest", "m", "", "manifest.json written by kbuild run (required)")
	f.StringVarP(&configPath, "config", "c", "pipeline.yaml", "the pipeline description (for the publish target)")
	f.BoolVarP(&dryRun, "dry-run", "n", false, "print what would be published, change nothing")
	_ = root.MarkFlagRequired("manifest")
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(stderr, "kpublish: %v\n", err)
		var ue usageError
		if errors.As(err, &ue) || !started {
			return 2
		}
		return 1
	}
	return 0
}
