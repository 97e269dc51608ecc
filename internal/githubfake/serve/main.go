// Command serve runs the fake GitHub (internal/githubfake) on loopback, for scripts/demo: it
// prints the server's URL on its first line (GitHub Enterprise's layout: URL/api/v3/ and
// URL/api/uploads/), serves until SIGINT or SIGTERM, then prints each release of -repo with its
// assets. It is not shipped: kbuild and kpublish do not import it.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/wslkernel/wslkernel/internal/githubfake"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "githubfake: %v\n", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("githubfake", flag.ContinueOnError)
	fs.SetOutput(stderr)
	token := fs.String("token", "", "the one token the server accepts (required)")
	repo := fs.String("repo", "wslkernel/WSL2-Linux-Kernel", "the repository whose releases are printed at the end")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return fmt.Errorf("-token is required: the server accepts only that token, as GitHub accepts only valid ones")
	}
	srv := githubfake.New(*token)
	defer srv.Close()
	fmt.Fprintln(stdout, srv.URL)
	<-ctx.Done()
	printReleases(stdout, srv, *repo)
	return nil
}

// printReleases lists what was published to repo: each release and its assets.
func printReleases(w io.Writer, srv *githubfake.Server, repo string) {
	rels := srv.Releases(repo)
	if len(rels) == 0 {
		fmt.Fprintf(w, "%s has no releases\n", repo)
	}
	for _, rel := range rels {
		fmt.Fprintf(w, "release %s %q on %s: %d assets\n", rel.TagName, rel.Name, repo, len(rel.Assets))
		for _, a := range rel.Assets {
			fmt.Fprintf(w, "  %-44s %10d bytes  %s\n", a.Name, len(a.Data), a.State)
		}
	}
}
