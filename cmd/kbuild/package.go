package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newPackageCmd(g *globals) *cobra.Command {
	var supersedes string
	cmd := &cobra.Command{
		Use:   "package",
		Short: "Make the Windows payloads (CAB, MSI, NuGet, SHA256SUMS) from the last run's build",
		Long: `package runs the package stage alone on what the last kbuild run built (run includes it when
the profile has package.formats). What installs carries the kernel and its modules disk only
(the initrd is a test artifact: WSL boots its own): per arch a CAB (kernel, modules.vhdx) and,
for x64, an MSI that installs them into C:\wsl-kernel\<version>, points .wslconfig's [wsl2]
kernel= and kernelModules= at them (uninstalling restores the values it replaced) and upgrades
an older revision; a NuGet package shaped like Microsoft.WSL.Kernel (build/native/bin/<arch>/:
kernel and modules.vhd, a fixed VHD; version suffix package.nuget_revision); beside them
update-<arch>.json, SHA256SUMS, and SHA256SUMS.asc when package.openpgp_key is set. Everything
lands in <out>/packages at once, or not at all.

With package.modules_disk: artifacts, all three carry artifacts.vhd in place of modules.vhdx and
modules.vhd (the layout WSL's branch for kernel 6.18.40.1 mounts: <release>/modules and
<release>/linux-headers), and the MSI points kernelModules= at it; a disk not laid out for this
kernel's release is refused.

CAB and MSI are Authenticode-signed with osslsigncode when package.signing is set or the
environment names a signer: WSLKERNEL_SIGN_PKCS12 (password in WSLKERNEL_SIGN_PASSWORD, or the
variable package.signing.password_env names), or WSLKERNEL_SIGN_CERT and WSLKERNEL_SIGN_KEY (PEM).
The certificate must match the key, be valid now and allow code signing. Without a signer the
payloads are unsigned and update.json says "signed": false.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.plan(cmd.Context())
			if err != nil {
				return err
			}
			if len(plan.Line.Profile.Package.Formats) == 0 {
				return fmt.Errorf("profile %s has no package.formats (cab, msi, nuget)", plan.Line.Name)
			}
			_, err = pipeline.Package(cmd.Context(), plan, opts, supersedes)
			return err
		},
	}
	cmd.Flags().StringVar(&supersedes, "supersedes", "", "the version these payloads replace (default: the newest earlier build in the work dir)")
	return cmd
}
