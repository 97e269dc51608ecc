// Package cli holds what kbuild and kpublish share as commands: signal handling and the mapping
// of errors to the documented exit codes.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

// UsageError marks a mistake of the caller (flags, pipeline.yaml, a manifest), as opposed to a
// failure of the work: exit code 2, not 1.
type UsageError struct{ Err error }

func (e UsageError) Error() string { return e.Err.Error() }
func (e UsageError) Unwrap() error { return e.Err }

// Silent ends a command with an exit code and no message (the command has said what it had to).
type Silent struct{ Code int }

func (s Silent) Error() string { return fmt.Sprintf("exit status %d", s.Code) }

// Main runs a command with a context cancelled by Ctrl-C or SIGTERM and exits with its code.
func Main(run func(ctx context.Context, args []string, stdout, stderr io.Writer) int) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Execute runs the cobra command tree and maps the outcome to an exit code: 0 success; 1 the
// work failed; 2 bad usage, which includes everything cobra refuses before a command runs
// (unknown command or flag, stray arguments, a missing required flag); a Silent's own code.
func Execute(ctx context.Context, name string, root *cobra.Command, args []string, stderr io.Writer) int {
	started := false
	markStarted(root, &started)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var silent Silent
	switch {
	case err == nil:
		return 0
	case errors.As(err, &silent):
		return silent.Code
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	var usage UsageError
	if errors.As(err, &usage) || !started {
		return 2
	}
	return 1
}

// DefaultCacheDir is where kbuild keeps the upstream mirrors, shared between work dirs, and
// where kpublish pushes from: both commands must agree on it, so it is defined once, here. The
// work dir's default is config.Pipeline.WorkDir.
func DefaultCacheDir() string {
	if dir, err := os.UserCacheDir(); err == nil {
		return filepath.Join(dir, "wslkernel")
	}
	return filepath.Join(os.TempDir(), "wslkernel-cache")
}

// markStarted wraps the RunE of cmd and of every command below it, at any depth, to set
// *started once cobra has accepted the command line: an error before that is cobra refusing the
// usage, an error after it comes from the command itself.
func markStarted(cmd *cobra.Command, started *bool) {
	if runE := cmd.RunE; runE != nil {
		cmd.RunE = func(c *cobra.Command, a []string) error { *started = true; return runE(c, a) }
	}
	for _, sub := range cmd.Commands() {
		markStarted(sub, started)
	}
}
