// Command kbuild runs the WSL kernel pipeline up to packaging: resolve and fetch the upstream
// release, patch, configure, build, write the initrd and boot-test it.
//
// Exit codes: 0 success; 1 the pipeline failed (fetch, build, boot…); 2 bad usage or a bad
// pipeline.yaml; 3 (check only) nothing new upstream; 4 (check only) nothing new, but the line
// rots; 5 (port only) the line does not configure clean on the series it is ported to.
package main

import (
	"context"
	"io"

	"github.com/wslkernel/wslkernel/internal/cli"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, "kbuild", newRootCmd(stdout, stderr), args, stderr)
}
