package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/kconfig"
)

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with kernel configs",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "diff OLD NEW",
		Short: "Print what changed between two configs, as scripts/diffconfig does",
		Long: `diff prints the symbols only in OLD ("-SYM value"), those whose value changed
(" SYM old -> new"), then those only in NEW ("+SYM value"), each sorted: the output of the
kernel's scripts/diffconfig, without needing Python.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			var configs [2]*kconfig.Config
			for i, path := range args {
				c, err := kconfig.ParseFile(path)
				if err != nil {
					return cli.UsageError{Err: err}
				}
				configs[i] = c
			}
			if lines := kconfig.Diff(configs[0], configs[1]); len(lines) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), strings.Join(lines, "\n"))
			}
			return nil
		},
	})
	return cmd
}
