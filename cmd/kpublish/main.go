// Command kpublish publishes what kbuild made: it pushes the branch and tag and creates the GitHub
// release with the configs, payloads, checksums and manifest.
//
// Exit codes: 0 success; 1 publishing failed; 2 bad usage, a bad pipeline.yaml or manifest.
package main

import (
	"context"
	"io"

	"github.com/wslkernel/wslkernel/internal/cli"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return cli.Execute(ctx, "kpublish", newRootCmd(stdout, stderr), args, stderr)
}
