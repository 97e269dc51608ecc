package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newPatchesCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "patches",
		Short: "Maintain the patch series",
	}
	var dryRun bool
	refresh := &cobra.Command{
		Use:   "refresh",
		Short: "Rewrite the series against the release being built, for you to commit",
		Long: `refresh applies the profile's series to the release kbuild would build (or --release) and
rewrites it for that base: each hunk header moves to where the hunk now applies, a patch whose
change upstream already holds is dropped (its series line is commented out with the release
that has it, its file deleted). Review the result with git diff, then commit it. A patch that
neither applies nor is upstream is an error naming the file and hunk: fix that one by hand.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			ref, err := pipeline.RefreshPatches(cmd.Context(), plan, opts, !dryRun)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, n := range ref.Notes {
				fmt.Fprintln(out, n)
			}
			switch {
			case !ref.Changed():
				fmt.Fprintf(out, "the series applies to %s as it is: nothing to refresh\n", plan.Release.Tag())
			case dryRun:
				fmt.Fprintf(out, "%d patch files would change (--dry-run: nothing written)\n", len(ref.Files))
			default:
				fmt.Fprintf(out, "%d patch files and %s rewritten for %s\n", len(ref.Files), ref.Series, plan.Release.Tag())
			}
			return nil
		},
	}
	refresh.Flags().BoolVar(&dryRun, "dry-run", false, "say what would change, write nothing")
	cmd.AddCommand(refresh)
	return cmd
}
