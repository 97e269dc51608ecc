package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newConfigureCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "configure",
		Short: "Fetch, patch and configure every arch of the profile; print each .config",
		Long: `configure runs the stages up to the config: fetch, patch, then for each arch the base, the
fragments in order, olddefconfig, the check that every requested value survived (naming the unmet
"depends on" when one did not) and the profile's policy. Nothing is built. The last lines are the
.config paths, one per arch; kbuild config explain SYMBOL reads them.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			configs, err := pipeline.Configure(cmd.Context(), plan, opts)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(configs, "\n"))
			return nil
		},
	}
}
