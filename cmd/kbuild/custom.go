package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newCustomCmd(g *globals) *cobra.Command {
	var c pipeline.Custom
	cmd := &cobra.Command{
		Use:   "custom",
		Short: "Build your own kernel: a profile (default wsl) plus the options you enable or disable",
		Long: `custom builds a personal kernel from a profile of pipeline.yaml (--profile, default wsl): the
same upstream release, patches and configs, then your changes merged last. Each is verified
like any fragment: an option that olddefconfig drops (an unmet dependency) fails the build
naming the flag and why, and the profile's policy (for wsl: what WSL needs to boot, such as
vsock and 9p) must still hold. It builds for this machine's arch unless --arch says otherwise,
boots the kernel in qemu, and leaves it under <work-dir>/out/custom/; uname -r ends in +custom.
Then kbuild install --profile custom puts it where WSL takes it from.

  kbuild custom --enable NFS_FS=m --enable NFSD=m --disable DRM
  kbuild custom --fragment my-options.config
  kbuild custom --feature btf`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			base, err := g.line()
			if err != nil {
				return err
			}
			opts := g.options(base)
			l, err := pipeline.CustomLine(base, opts.WorkDir, c, hostArch())
			if err != nil {
				return cli.UsageError{Err: err}
			}
			plan, err := pipeline.NewPlan(cmd.Context(), l, opts)
			if err != nil {
				return err
			}
			plan.Print(cmd.OutOrStdout())
			if _, err := pipeline.Run(cmd.Context(), plan, opts); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "\nInstall it for WSL with:\n  kbuild install --profile %s --windows-home /mnt/c/Users/<you>\n", pipeline.CustomProfile)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVar(&c.Enable, "enable", nil, "turn an option on: NAME (built in) or NAME=m (a module); repeatable")
	f.StringArrayVar(&c.Disable, "disable", nil, "turn an option off: NAME; repeatable")
	f.StringArrayVar(&c.Fragments, "fragment", nil, "merge a .config fragment file; repeatable")
	f.StringArrayVar(&c.Features, "feature", nil, "add a feature of configs/features (kbuild features lists them); repeatable")
	f.StringArrayVar(&c.Arches, "arch", nil, "build for this arch (x86_64, arm64); default: this machine's")
	return cmd
}

// hostArch is this machine's arch by the kernel's name for it.
func hostArch() string {
	if runtime.GOARCH == "amd64" {
		return "x86_64"
	}
	return runtime.GOARCH
}
