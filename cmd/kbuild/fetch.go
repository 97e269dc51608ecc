package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newFetchCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "fetch",
		Short: "Fetch, verify and patch the upstream release; print the source tree",
		Long: `fetch resolves the release, fetches it into the mirror (only what is new when the mirror holds
an earlier release of the series), verifies the signed tag, exports the tree and applies the patch
series. The last line of output is the source tree's path. Nothing is configured or built.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			src, err := pipeline.Fetch(cmd.Context(), plan, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), src)
			return nil
		},
	}
}
