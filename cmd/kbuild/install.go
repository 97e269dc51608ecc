package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/install"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/runner"
)

func newInstallCmd(g *globals) *cobra.Command {
	var o install.Options
	var arch string
	var rollback bool
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Put the last build of a profile where WSL takes it from, and point .wslconfig at it",
		Long: `install copies the kernel and modules.vhdx of the profile's newest successful build (for
kbuild custom's: --profile custom; artifacts.vhd instead when the build made one, with
package.modules_disk: artifacts) into a folder of their own, <windows-home>\wsl-kernel\<version>\
(or under --dir; <version>_2, _3... when that folder holds another build: a file WSL may be using
is never replaced), and sets kernel= and kernelModules= in the [wsl2] section of
<windows-home>\.wslconfig, with Windows paths; kernelModules= is removed when the build has none.
Every other line and byte of .wslconfig is kept, in its encoding (UTF-8, UTF-8 or UTF-16 with
BOM) and line endings, and the old file is saved beside it as .wslconfig.bak-<time>. A path WSL's
parser cannot read (not ASCII, or with # " ;) is refused, and so is a read-only .wslconfig. Run
wsl.exe --shutdown afterwards (in Windows, or in WSL: it ends the session) to start the new kernel.

Inside WSL, install finds your Windows profile itself through WSL's interop (cmd.exe's
%USERPROFILE%, under the distro's automount root), and gives BUILTIN\Users and both ALL
APPLICATION PACKAGES groups read and execute on the kernel's folder (icacls.exe): WSL 2.7.1 to
2.7.4 cannot attach a modules disk under the profile otherwise (HCS E_ACCESSDENIED).

  kbuild install --profile custom
  kbuild install --profile custom --windows-home /mnt/c/Users/ada

--rollback puts back the kernel= and kernelModules= lines the last install replaced (removing
them if there were none, so WSL boots its own kernel); a second --rollback rolls forward again.
It refuses if .wslconfig was edited since, or the old files are gone.

Outside WSL, say how Windows names the folders: --windows-path 'C:\Users\ada', --windows-dir.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			wsl := install.WSL{Root: "/", Getenv: os.Getenv, Runner: runner.Exec{}}
			if err := wsl.Complete(cmd.Context(), &o); err != nil {
				return err
			}
			if o.Home == "" {
				return cli.UsageError{Err: fmt.Errorf("--windows-home is required outside WSL: the Windows user's home folder as this machine sees it (/mnt/c/Users/<you>)")}
			}

			o.Now = time.Now()
			if rollback {
				res, err := install.Rollback(o)
				if err != nil {
					return err
				}
				printInstall(cmd.OutOrStdout(), "rolled back to "+orWSLs(res.Folder), res)
				return nil
			}
			return runInstall(cmd.OutOrStdout(), g, o, arch)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Home, "windows-home", "", "the Windows user's home folder as this machine sees it (/mnt/c/Users/<you>)")
	f.StringVar(&o.WindowsHome, "windows-path", "", `the same folder as Windows names it (default: from a /mnt/<drive>/ path)`)
	f.StringVar(&o.Dir, "dir", "", "the folder for installed kernels, as this machine sees it (default: <windows-home>/wsl-kernel)")
	f.StringVar(&o.WindowsDir, "windows-dir", "", "the same folder as Windows names it (default: from --windows-path or a /mnt/<drive>/ path)")
	f.StringVar(&arch, "arch", hostArch(), "which arch's build to install")
	f.BoolVar(&rollback, "rollback", false, "put back the kernel= and kernelModules= the last install replaced")
	return cmd
}

func runInstall(out io.Writer, g *globals, o install.Options, arch string) error {
	p, err := pipeline.Load(g.config)
	if err != nil {
		return cli.UsageError{Err: err}
	}
	m, dir, err := pipeline.LatestRun(p.WorkDir(g.workDir), g.profile)
	if err != nil {
		return err
	}
	o.Version = m.Version
	if o.Kernel, err = pipeline.CheckedOutput(dir, m, "kernel", arch); err != nil {
		return err
	}
	if o.Modules, o.ModulesName, err = pipeline.InstalledDisk(dir, m, arch); err != nil {
		return err
	}
	res, err := install.Install(o)
	if err != nil {
		return err
	}
	printInstall(out, fmt.Sprintf("installed %s (%s, %s) in %s", m.Version, m.KernelRelease, arch, res.Folder), res)
	return nil
}

func orWSLs(folder string) string {
	if folder == "" {
		return "the .wslconfig values before kbuild's install"
	}
	return folder
}

func printInstall(out io.Writer, what string, res *install.Result) {
	fmt.Fprintln(out, what)
	if res.Kernel != "" {
		fmt.Fprintf(out, "  kernel         %s\n", res.Kernel)
	}
	if res.Modules != "" {
		fmt.Fprintf(out, "  modules        %s\n", res.Modules)
	}
	res.Describe(out)
	fmt.Fprintf(out, "Run wsl.exe --shutdown (in Windows, or here: it ends this session too); the next WSL start boots this kernel.\n")
}
