package main

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/feature"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

func newFeaturesCmd(g *globals) *cobra.Command {
	var arch, configFile, tree, series string
	cmd := &cobra.Command{
		Use:   "features",
		Short: "List the WSL features and whether a configured kernel provides each",
		Long: `features lists configs/features/: each feature's name, whether the profile ships it, and
what users get. With a configured kernel (the profile's configure output in the work dir, or
--config-file) it also says whether that .config provides each feature on --arch: every
essential symbol the feature's header names holds the value its fragment asks for. For the
missing ones it names the symbols and, when the kernel tree is at hand (the build tree's, or
--kernel-tree), what Kconfig says: the unmet dependency. Exit code 1 when a feature of the
profile is missing. Add a feature to a personal kernel with kbuild custom --feature NAME.

A feature's fragments may set some symbols on some kernel series only ("# series:" lines), so
the state is judged on the series of the tree at hand, which the first line names: the
kernel tree's Makefile says it; without a tree, --series, else the release pipeline.yaml pins,
else the series it follows.`,
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
			var src string
			if r.Final, r.Rules, src, err = configured(l, g.options(l).WorkDir, arch, configFile, tree); err != nil {
				return err
			}
			if r.Final != nil {
				if r.Series, r.SeriesFrom, err = judgedSeries(l, src, series); err != nil {
					return err
				}
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
	f.StringVar(&tree, "kernel-tree", "", "the kernel source tree whose Kconfig explains what is missing, and whose series the features are judged on (default: the build tree's)")
	f.StringVar(&series, "series", "", "the kernel series (such as 7.2) to judge a --config-file on when no kernel tree says it")
	return cmd
}

// judgedSeries is the series the features are judged on, and where it came from: the tree's
// Makefile; without a tree, --series, the release the line pins, or the series it follows.
func judgedSeries(l *config.Line, tree, flag string) (version.Series, string, error) {
	if tree != "" {
		rel, extra, err := upstream.TreeRelease(tree)
		if err != nil {
			return version.Series{}, "", fmt.Errorf("the series of %s: %w", tree, err)
		}
		if flag != "" && flag != rel.Series().String() {
			return version.Series{}, "", cli.UsageError{Err: fmt.Errorf("--series %s, but the kernel tree %s is Linux %s", flag, tree, rel.Full()+extra)}
		}
		return rel.Series(), fmt.Sprintf("Linux %s, %s", rel.Full()+extra, filepath.Join(tree, "Makefile")), nil
	}
	if flag != "" {
		s, err := version.ParseSeries(flag)
		if err != nil {
			return version.Series{}, "", cli.UsageError{Err: fmt.Errorf("--series: %w", err)}
		}
		return s, "--series", nil
	}
	if pin := l.Upstream.Pin; pin != "" {
		rel, err := version.ParseRelease(pin)
		if err == nil {
			return rel.Series(), fmt.Sprintf("upstream.pin %s in %s; no kernel tree at hand", pin, l.Pipeline.File), nil
		}
	}
	if t := l.Track(); t.Moniker == "" {
		return t.Series, fmt.Sprintf("the series %s follows; no kernel tree at hand, --series or --kernel-tree to judge on another", l.Pipeline.File), nil
	}
	return version.Series{}, "", cli.UsageError{Err: fmt.Errorf("no kernel tree is at hand to say the series, and %s follows %s: give --series or --kernel-tree", l.Pipeline.File, l.Track())}
}

// configured reads the .config to check, the Kconfig rules that explain it and the kernel tree
// they came from ("" when none is at hand); no .config (the profile not configured yet, and no
// --config-file) is no error: the listing goes without.
func configured(l *config.Line, workDir, arch, configFile, tree string) (*kconfig.Config, *kconfig.Rules, string, error) {
	a, err := kbuild.LookupArch(arch)
	if err != nil {
		return nil, nil, "", cli.UsageError{Err: fmt.Errorf("--arch: %w", err)}
	}
	var final *kconfig.Config
	if configFile == "" {
		// The profile's build tree, as the configure stage left it.
		c, err := pipeline.ReadConfigured(pipeline.BuildDir(workDir, l, arch))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil, "", nil
		}
		if err != nil {
			return nil, nil, "", cli.UsageError{Err: err}
		}
		final = c.Final
		if tree == "" {
			tree, _ = c.Source()
		}
	} else if final, err = kconfig.ParseFile(configFile); err != nil {
		return nil, nil, "", cli.UsageError{Err: err}
	}
	if tree == "" {
		return final, nil, "", nil
	}
	rules, err := kconfig.LoadRulesArch(tree, a.Make, a.SrcArch)
	if err != nil {
		return nil, nil, "", fmt.Errorf("--kernel-tree: %w", err)
	}
	return final, rules, tree, nil
}
