package main

import (
	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newBootCmd(g *globals) *cobra.Command {
	var arches []string
	cmd := &cobra.Command{
		Use:   "boot",
		Short: "Boot the last run's kernel and initrd under qemu, with modules.vhdx attached",
		Long: `boot runs the boot test on what the last kbuild run built, without building: qemu-system-x86_64
or qemu-system-aarch64 (software emulation), the kernel and initrd checked against the manifest's
SHA-256 first, and modules.vhdx attached read-only as a virtio disk when the profile has modules.
The smoke init must print its marker with the expected uname -r and load the module from the
disk; a panic before that, a missing marker or the timeout (boot.timeout) fails, and the serial
console is saved as <out>/<arch>/console.log either way. Time to init is read from the kernel's own
printk timestamps.

Exit status: 0 when every arch booted, 1 otherwise.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.planArches(cmd.Context(), arches)
			if err != nil {
				return err
			}
			if err := plan.OnlyArches(arches); err != nil {
				return err
			}
			_, err = pipeline.Boot(cmd.Context(), plan, opts)
			return err
		},
	}
	cmd.Flags().StringSliceVar(&arches, "arch", nil, "boot only these arches of the profile (default: all)")
	return cmd
}
