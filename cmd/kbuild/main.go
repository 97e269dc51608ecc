// Command kbuild runs the WSL kernel pipeline up to packaging: resolve and fetch the upstream
// release, patch, configure, build, write the initrd and boot-test it.
//
// Exit codes: 0 success; 1 the pipeline failed (fetch, build, boot…); 2 bad usage or a bad
// pipeline.yaml; 3 (check only) nothing new upstream.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError marks mistakes of the caller (flags, pipeline.yaml) as opposed to failures of the run.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCmd(stdout, stderr)
	// Errors cobra raises before a command runs (unknown command or flag, stray arguments) are
	// usage errors too.
	started := false
	for _, cmd := range root.Commands() {
		if runE := cmd.RunE; runE != nil {
			cmd.RunE = func(c *cobra.Command, args []string) error { started = true; return runE(c, args) }
		}
	}
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if errors.Is(err, errUpToDate) {
		return 3
	}
	fmt.Fprintf(stderr, "kbuild: %v\n", err)
	var ue usageError
	if errors.As(err, &ue) || !started {
		return 2
	}
	return 1
}
