package main

import (
	"encoding/json"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Say what is built, what is stale and why, and upstream against the last release",
		Long: `status resolves the release a run would build now and the version it would make (from the
published release tags), then compares each stage of that version's last run in the work dir
with the files as they are now: up to date, stale (naming each input that changed, or the
output that is gone), failed, or not run. It builds, fetches and changes nothing.

--json prints the same as one JSON object.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			st, err := pipeline.ReadStatus(cmd.Context(), plan, opts)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(st)
			}
			st.Print(cmd.OutOrStdout())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the status as JSON")
	return cmd
}
