package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/install"
	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newInstallCmd(g *globals) *cobra.Command {
	var home, winPath, arch string
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Put the last build of a profile where WSL takes it from, and point .wslconfig at it",
		Long: `install copies the kernel and modules.vhdx of the profile's newest successful build (for
kbuild custom's: --profile custom) into <windows-home>\wsl-kernel\<version>\ and sets
kernel= and kernelModules= in the [wsl2] section of <windows-home>\.wslconfig, with Windows
paths. Every other setting and comment in .wslconfig is kept, and the old file is saved beside
it as .wslconfig.bak-<time>. Run wsl --shutdown on Windows afterwards to start the new kernel.

  kbuild install --profile custom --windows-home /mnt/c/Users/ada

Outside WSL, say how Windows names the folder: --windows-path 'C:\Users\ada'.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if home == "" {
				return cli.UsageError{Err: fmt.Errorf("--windows-home is required: the Windows user's home folder as this machine sees it (/mnt/c/Users/<you>)")}
			}
			p, err := config.Load(g.config)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			m, dir, err := pipeline.LatestRun(p.WorkDir(g.workDir), g.profile)
			if err != nil {
				return err
			}
			o := install.Options{Home: home, WindowsHome: winPath, Version: m.Version, Now: time.Now()}
			if o.Kernel, err = pipeline.CheckedOutput(dir, m, "kernel", arch); err != nil {
				return err
			}
			if o.Modules, err = pipeline.CheckedOutput(dir, m, "modules", arch); err != nil {
				return err
			}
			res, err := install.Install(o)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "installed %s (%s, %s)\n", m.Version, m.KernelRelease, arch)
			fmt.Fprintf(out, "  kernel         %s\n", res.Kernel)
			if res.Modules != "" {
				fmt.Fprintf(out, "  modules        %s\n", res.Modules)
			}
			fmt.Fprintf(out, "  .wslconfig     %s: [wsl2] kernel=%s", res.WSLConfig, res.Settings["kernel"])
			if v, ok := res.Settings["kernelModules"]; ok {
				fmt.Fprintf(out, ", kernelModules=%s", v)
			}
			fmt.Fprintln(out)
			if res.Backup != "" {
				fmt.Fprintf(out, "  previous       %s\n", res.Backup)
			}
			fmt.Fprintf(out, "Run wsl --shutdown on Windows; the next WSL start boots this kernel.\n")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&home, "windows-home", "", "the Windows user's home folder as this machine sees it (/mnt/c/Users/<you>)")
	f.StringVar(&winPath, "windows-path", "", `the same folder as Windows names it (default: from a /mnt/<drive>/ path)`)
	f.StringVar(&arch, "arch", hostArch(), "which arch's build to install")
	return cmd
}
