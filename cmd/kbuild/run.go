package main

import (
	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the pipeline: fetch, patch, configure, build, initrd, boot",
		Long: `run carries out every stage for the profile and writes manifest.json (inputs, outputs,
SHA-256 and sizes, upstream tag, commit and signer, stage timings), even when a stage fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			plan.Print(cmd.OutOrStdout())
			_, err = pipeline.Run(cmd.Context(), plan, opts)
			return err
		},
	}
}
