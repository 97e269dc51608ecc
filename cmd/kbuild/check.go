package main

import (
	"errors"

	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/pipeline"
	"github.com/wslkernel/wslkernel/internal/upstream"
)

// upToDate makes check exit 3, so `kbuild check && kbuild run` builds only when there is
// something new.
var upToDate = cli.Silent{Code: 3}

// rotting makes check exit 4: up to date, but the followed series has ended at kernel.org or a
// newer longterm series is out. Not 0, so `kbuild check && kbuild run` builds nothing, and not
// 3, so a cron job that lets 3 pass quietly hears of it. With something new to build, check
// exits 0 as ever and only prints the warning: the release is still worth building.
var rotting = cli.Silent{Code: 4}

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Say whether upstream has a release newer than the last build",
		Long: `check resolves the release the profile would build now (releases.json or the repository's
tags, as pipeline.yaml says) and compares it with the newest successful run in the work dir.

It also warns when releases.json marks the followed series end-of-life or lists a newer
longterm series, naming the series to move the line to (with resolve: tags or a pinned release,
it says that it cannot tell).

Exit codes, for cron: 0 there is a newer release (or nothing was built yet): run;
3 up to date: nothing to do; 4 up to date, but the followed series is end-of-life or a newer
longterm series is out: move the line (with something to build it exits 0 and warns);
1 the check itself failed (upstream unreachable, bad releases.json); 2 bad usage or
pipeline.yaml, including a --release or upstream.pin that upstream has no tag for.
So: kbuild check && kbuild run`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := g.line()
			if err != nil {
				return err
			}
			res, err := pipeline.Check(cmd.Context(), l, g.options(l))
			if errors.Is(err, upstream.ErrNoTag) {
				return cli.UsageError{Err: err} // --release or upstream.pin names no release
			}
			if err != nil {
				return err
			}
			res.Print(cmd.OutOrStdout())
			switch {
			case res.Newer:
			case res.Rotting():
				return rotting
			default:
				return upToDate
			}
			return nil
		},
	}
}
