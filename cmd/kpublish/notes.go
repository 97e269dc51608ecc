package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newNotesCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "notes",
		Short: "Print the release notes kpublish would publish, and publish nothing",
		Long: `notes prints the release notes for the manifest: the upstream update with upstream's shortlog
since the previous release (read from the upstream mirror), the config changes per arch against
the previous release (diffconfig form), the patches added, dropped and upstreamed, the CVEs fixed
(from a local copy of the kernel CNA's published records, --cve-records or publish.cve_records:
those that affect the previous upstream version and not the new one), and the artifacts with
sizes and SHA-256. The previous release is the newest earlier successful run beside this one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			run, err := g.load()
			if err != nil {
				return err
			}
			notes, err := run.Notes()
			if err != nil {
				return usage(err)
			}
			fmt.Fprint(cmd.OutOrStdout(), notes)
			return nil
		},
	}
}
