package main

import (
	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/pipeline"
)

func newVerifyCmd(g *globals) *cobra.Command {
	var arches []string
	var payloads bool
	var in string
	var noCache bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Rebuild the last run's kernel, modules and initrd elsewhere and compare the bytes",
		Long: `verify checks that the profile's build is reproducible. It reads the last run's manifest.json
and builds the same inputs again from clean, in another directory (<work-dir>/verify: its own source
tree, build trees and compiler cache, so nothing compiled for the run is reused; --no-cache
compiles without one, so nothing compared went through a cache), then compares the
kernel image, config, initrd, both modules disks (modules.vhdx and modules.vhd: their ext4 image
is pinned and our own writers make them) and the installed modules tree byte for byte.

With --payloads (every arch), the rebuild is packaged too, superseding what the run's payloads
supersede, and naming the branch's defconfig commit made again from the rebuilt configs (the
published ref is left where it is), and every payload is compared: the CAB, MSI and NuGet package must come out
byte-identical from two builds in different folders, with separate compiler caches, made at
different times.

Exit status: 0 when every output is identical, 1 when any differs (both files are kept; diffoscope
shows where) or the rebuild failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			plan, opts, err := g.planArches(cmd.Context(), arches)
			if err != nil {
				return err
			}
			if err := plan.OnlyArches(arches); err != nil {
				return err
			}
			opts.Payloads, opts.VerifyIn, opts.VerifyUncached = payloads, in, noCache
			v, err := pipeline.Verify(cmd.Context(), plan, opts)
			if v != nil {
				out := cmd.OutOrStdout()
				for _, c := range v.Files {
					label := c.Name
					if c.Arch != "" {
						label += " [" + c.Arch + "]"
					}
					if c.Same() {
						pipeline.Say(out, label, "identical   "+c.Run)
					} else {
						pipeline.Say(out, label, "DIFFERENT   run "+c.Run,
							"            again "+c.Again, "            compare: diffoscope "+c.RunPath+" "+c.AgainPath)
					}
				}
			}
			return err
		},
	}
	cmd.Flags().StringSliceVar(&arches, "arch", nil, "verify only these arches of the profile (default: all)")
	cmd.Flags().BoolVar(&noCache, "no-cache", false, "compile the rebuild without a compiler cache: no object compared went through one (on a fresh machine also faster than through an empty cache)")
	cmd.Flags().StringVar(&in, "in", "verify", "the folder under the work dir to rebuild in, with a compiler cache of its own (ccache-<in> in the cache dir): two names give two clean builds")
	cmd.Flags().BoolVar(&payloads, "payloads", false, "package the rebuild too and compare every payload (CAB, MSI, NuGet, update.json, SHA256SUMS); every arch")
	return cmd
}
