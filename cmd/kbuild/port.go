package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

// notClean makes port exit 5 while the line does not configure clean on the new series: not 1
// (the port itself worked, and says what to change), and a code no other kbuild command uses.
var notClean = cli.Silent{Code: 5}

func newPortCmd(g *globals) *cobra.Command {
	var series string
	cmd := &cobra.Command{
		Use:   "port --series X.Y",
		Short: "Rehearse moving the line to another kernel series, and say what to change",
		Long: `port takes the profile to the newest release of another series (X.Y, resolved as the line
resolves releases: releases.json or the tags), in a place of its own (<work-dir>/port/ and the
mirror's refs/wslkernel/port/): the line's own source tree, release branch and releases are
never touched. It fetches and verifies the release, carries the patch series onto it
(upstreamed patches are reported and skipped; one that does not apply fails, naming it, as in a
run; kbuild patches refresh rewrites the series), and configures every arch with the profile's
fragments, features and policy as they apply to X.Y.

Then, per arch, each requested value olddefconfig dropped and each policy or essential-symbol
rule that does not hold, judged against the line's own tree of the series it follows: whether
its symbol was renamed (candidates: the same prompt, or help text alike; or the symbol that
takes a transitional name's value), moved (the Makefiles build its code with another symbol
now), is gone (and where its code went, if it is part of another symbol's object now), or
lost a dependency (the unmet term and the symbol to request), each with the change to make and
the "# series:" range that keeps the file right for both series. Once it is clean, set
series: in pipeline.yaml and kbuild run.

Exit codes: 0 the line configures clean on X.Y; 5 it does not yet (the report says what to
change); 1 the port failed (upstream unreachable, a patch that does not apply);
2 bad usage, including a series that neither releases.json nor the tags have.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := version.ParseSeries(series)
			if err != nil {
				return cli.UsageError{Err: fmt.Errorf("--series: %w", err)}
			}
			if g.release != "" {
				return cli.UsageError{Err: errors.New("--release: port takes the newest release of --series; --release picks one of the series the line follows")}
			}
			l, err := g.line()
			if err != nil {
				return err
			}
			rep, err := pipeline.Port(cmd.Context(), l, s, g.options(l))
			if errors.Is(err, upstream.ErrNoRelease) || errors.Is(err, pipeline.ErrFollowed) {
				return cli.UsageError{Err: err}
			}
			if err != nil {
				return err
			}
			rep.Print(cmd.OutOrStdout())
			if !rep.Clean() {
				return notClean
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&series, "series", "", "the kernel series to port the line to, such as 7.2")
	cmd.MarkFlagRequired("series")
	return cmd
}
