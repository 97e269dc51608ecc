package main

import (
	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newRunCmd(g *globals) *cobra.Command {
	var force, sequential bool
	var arches []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the pipeline: fetch, patch, configure, build, initrd, boot",
		Long: `run carries out every stage for the profile and writes manifest.json (inputs, outputs,
SHA-256 and sizes, upstream tag, commit and signer, stage timings), even when a stage fails.

A stage whose inputs are unchanged since the last run of the same version, and whose outputs
are still there unchanged, is skipped ("up to date"); a run that was stopped or failed is
resumed from the stage it did not finish. --force runs every stage.

On a machine too small to build the arches side by side, the next arch compiles while the one
before it boots under qemu (one emulated CPU thread); its lines are held until that arch is done,
so the output reads as a sequential run's. --sequential runs them strictly one after the other.

--arch builds and boots only that arch (every arch is still configured, so the release branch
is the same in each job): one CI job per arch, then kbuild assemble in a last job gathers their
output folders and packages them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.planArches(cmd.Context(), arches)
			if err != nil {
				return err
			}
			plan.Print(cmd.OutOrStdout())
			opts.Force, opts.Arches, opts.Sequential = force, arches, sequential
			_, err = pipeline.Run(cmd.Context(), plan, opts)
			return err
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "run every stage, even those that are up to date")
	cmd.Flags().BoolVar(&sequential, "sequential", false, "never compile one arch while another boots (to compare)")
	cmd.Flags().StringArrayVar(&arches, "arch", nil, "build and boot only this arch (repeatable); package with kbuild assemble")
	return cmd
}
