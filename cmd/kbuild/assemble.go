package main

import (
	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newAssembleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "assemble OUTDIR...",
		Short: "Gather the runs of single arches (kbuild run --arch) into one release and package it",
		Long: `assemble is the last job of a CI workflow that builds each arch in a job of its own with
kbuild run --arch: given their output folders (each holding its manifest.json), it runs fetch,
patch, configure and branch itself (the same inputs give the same release branch, which
kpublish pushes from this machine's mirror), checks that each folder is a successful run of
this same release (version, upstream commit, branch head, inputs digest), takes each arch's
outputs after checking their SHA-256, and makes the Windows payloads. Every arch of the
profile must come from one of the folders. kpublish then publishes the result.

  kbuild assemble x86_64-job/out/wsl/6.12.118.1 arm64-job/out/wsl/6.12.118.1`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, parts []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			_, err = pipeline.Assemble(cmd.Context(), plan, opts, parts)
			return err
		},
	}
}
