package main

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newConfigCmd(g *globals) *cobra.Command {
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
	var arch string
	explain := &cobra.Command{
		Use:   "explain SYMBOL",
		Short: "Say who set a config symbol and why it has its value",
		Long: `explain reads the profile's configured build tree (after kbuild run) and says, for
SYMBOL (with or without CONFIG_): its final value, what the base had, every fragment line that
set it, and what the tree's Kconfig files say: where it is defined, whether it has a prompt,
its "depends on" with the value of each symbol, and what selects it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := g.line()
			if err != nil {
				return err
			}
			if arch == "" {
				arch = l.Profile.Arches[0]
			}
			opts := g.options(l)
			if err := explainable(l, opts.WorkDir, arch); err != nil {
				return cli.UsageError{Err: err}
			}
			lines, err := pipeline.Explain(l, opts, arch, args[0])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), strings.Join(lines, "\n"))
			return nil
		},
	}
	explain.Flags().StringVar(&arch, "arch", "", "which arch's config (default: the profile's first)")
	cmd.AddCommand(explain)
	return cmd
}

// explainable refuses, as the caller's mistake, an arch the profile does not build and a work
// dir that does not exist (a mistyped --work-dir, or nothing run yet).
func explainable(l *config.Line, workDir, arch string) error {
	if !slices.Contains(l.Profile.Arches, arch) {
		return fmt.Errorf("--arch %s: profile %s builds %s", arch, l.Name, strings.Join(l.Profile.Arches, ", "))
	}
	if _, err := os.Stat(workDir); os.IsNotExist(err) {
		return fmt.Errorf("work dir %s does not exist: give the --work-dir kbuild run used, or run kbuild run --profile %s first", workDir, l.Name)
	}
	return nil
}
