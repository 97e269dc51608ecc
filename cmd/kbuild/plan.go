package main

import (
	"github.com/spf13/cobra"
)

func newPlanCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "plan",
		Short: "Print what run would do, without doing it",
		Long: `plan loads pipeline.yaml, resolves the upstream release from releases.json and prints the
version, names and stages that run would carry out, with the command lines each stage would
run (the same code a run uses, handed to a dry-run runner). It fetches and builds nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, _, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			plan.PrintCommands(cmd.OutOrStdout())
			return nil
		},
	}
}
