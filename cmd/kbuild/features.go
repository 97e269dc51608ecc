package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newFeaturesCmd(g *globals) *cobra.Command {
	var arch, configFile, tree string
	cmd := &cobra.Command{
		Use:   "features",
		Short: "List the WSL features and whether a configured kernel provides each",
		Long: `features lists configs/features/: each feature's name, whether the profile ships it, and
what users get. With a configured kernel (the profile's configure output in the work dir, or
--config-file) it also says whether that .config provides each feature on --arch: every
essential symbol the feature's header names holds the value its fragment asks for. For the
missing ones it names the symbols and, when the kernel tree is at hand (the build tree's, or
--kernel-tree), what Kconfig says: the unmet dependency. Exit code 1 when a feature of the
profile is missing. Add a feature to a personal kernel with kbuild custom --feature NAME.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.line()
			if err != nil {
				return err
			}
			set, err := l.Pipeline.Features()
			if err != nil {
				return cli.UsageError{Err: err}
			}
			if arch == "" {
				arch = l.Profile.Arches[0]
			}
			r := feature.Report{Set: set, Arch: arch, Profile: l.Profile.Config.Features}
			if r.Final, r.Rules, err = configured(l, g.options(l).WorkDir, arch, configFile, tree); err != nil {
				return err
			}
			missing, err := r.Write(cmd.OutOrStdout())
			if err == nil && missing > 0 {
				err = cli.Silent{Code: 1}
			}
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&arch, "arch", "", "the arch whose config is checked (default: the profile's first)")
	f.StringVar(&configFile, "config-file", "", "check this .config instead of the profile's configured one")
	f.StringVar(&tree, "kernel-tree", "", "the kernel source tree whose Kconfig explains what is missing (default: the build tree's)")
	return cmd
}

// configured reads the .config to check and the Kconfig rules that explain it; no .config (the
// profile not configured yet, and no --config-file) is no error: the listing goes without.
func configured(l *config.Line, workDir, arch, configFile, tree string) (*kconfig.Config, *kconfig.Rules, error) {
	a, err := kbuild.LookupArch(arch)
	if err != nil {
		return nil, nil, cli.UsageError{Err: fmt.Errorf("--arch: %w", err)}
	}
	if configFile == "" {
		// Where the configure stage leaves the profile's .config.
		dir := pipeline.BuildDir(workDir, l, arch)
		configFile = filepath.Join(dir, ".config")
		if _, err := os.Stat(configFile); err != nil {
			return nil, nil, nil
		}
		if tree == "" {
			tree, _ = filepath.EvalSymlinks(filepath.Join(dir, "source"))
		}
	}
	final, err := kconfig.ParseFile(configFile)
	if err != nil {
		return nil, nil, cli.UsageError{Err: err}
	}
	if tree == "" {
		return final, nil, nil
	}
	rules, err := kconfig.LoadRules(tree, a.SrcArch)
	if err != nil {
		return nil, nil, fmt.Errorf("--kernel-tree: %w", err)
	}
	return final, rules, nil
}
