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

func newCheckCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "check",
		Short: "Say whether upstream has a release newer than the last build",
		Long: `check resolves the release the profile would build now (releases.json or the repository's
tags, as pipeline.yaml says) and compares it with the newest successful run in the work dir.

Exit codes, for cron: 0 there is a newer release (or nothing was built yet): run;
3 up to date: nothing to do; 1 the check itself failed (upstream unreachable, bad releases.json);
2 bad usage or pipeline.yaml, including a --release or upstream.pin that upstream has no tag
for. So: kbuild check && kbuild run`,
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
			if !res.Newer {
				return upToDate
			}
			return nil
		},
	}
}
