// Command kpublish publishes what kbuild made: it pushes the branch and tag and creates the GitHub
// release with the configs, payloads, checksums and manifest.
//
// Exit codes: 0 success; 1 publishing failed; 2 bad usage, a bad pipeline.yaml or manifest.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	"github.com/spf13/cobra"

	"github.com/wslkernel/wslkernel/internal/cli"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/cve"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/publish"
	"github.com/wslkernel/wslkernel/internal/published"
	"github.com/wslkernel/wslkernel/internal/upstream"
	"github.com/wslkernel/wslkernel/internal/version"
)

func main() { cli.Main(run) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var manifestPath, configPath, cacheDir, cveDir, profile, workDir string
	var dryRun, replace bool
	root := &cobra.Command{
		Use:   "kpublish [--manifest out/.../manifest.json] [--dry-run]",
		Short: "Publish a kbuild run: branch, tag and GitHub release",
		Long: `kpublish reads the manifest.json that kbuild run wrote (--manifest; default: the newest
successful run of --profile in the work dir, so cron can run kbuild check && kbuild run &&
kpublish), checks every output against the
SHA-256 recorded there, and publishes:
  - the release branch (publish.remote, from the upstream mirror where kbuild built it; each
    release rebuilds it on its upstream tag, so it is force-updated) and the annotated release
    tag on its head, sending only what the remote lacks; a tag already there naming anything
    else is never moved;
  - the GitHub release for the tag (publish.repo; GitHub Enterprise through publish.api_url and
    publish.upload_url), created or updated, never twice, with notes, the configs, payloads,
    SHA256SUMS and the manifest. An asset already there with the same SHA-256 is kept; one with
    other bytes is replaced only with --replace-assets; every upload is read back and checked.
Every GitHub call retries on 5xx, broken connections and rate limits; after any failure, running
kpublish again ends where one clean run would. The token comes from GITHUB_TOKEN and is never
printed. --dry-run makes only read calls and prints every write it would make.

Exit codes: 0 success, 1 publishing failed, 2 bad usage, pipeline.yaml or manifest.`,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if manifestPath == "" {
				if manifestPath, err = newestRun(configPath, workDir, profile); err != nil {
					return err
				}
			}
			p, rel, m, err := load(configPath, manifestPath)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			token := os.Getenv("GITHUB_TOKEN")
			if token == "" {
				if !dryRun {
					return cli.UsageError{Err: errors.New("GITHUB_TOKEN is not set: kpublish needs a token that may push to publish.remote and write releases of publish.repo")}
				}
				// Offline: what would be published, without asking GitHub what is there.
				rel.PrintDryRun(out)
				return nil
			}
			owner, repo, ok := strings.Cut(p.Publish.Repo, "/")
			if !ok {
				return cli.UsageError{Err: fmt.Errorf("%s: publish.repo must be owner/name", p.File)}
			}
			if dryRun {
				fmt.Fprintf(out, "dry run: only reads are made; every write is printed instead\n")
			}
			// Everything that can fail without writing comes first: the client and the notes.
			client, err := publish.NewClient(token, p.Publish.APIURL, p.Publish.UploadURL)
			if err != nil {
				return cli.UsageError{Err: err}
			}
			notes, err := notesFor(m, manifestPath, rel, cacheDir, cveOr(cveDir, p.Publish.CVERecords))
			if err != nil {
				return err
			}
			if err := push(ctx, m, p.Publish.Remote, cacheDir, token, dryRun, out); err != nil {
				return err
			}
			g := &publish.GitHub{Client: client, Owner: owner, Repo: repo, ReplaceAssets: replace, DryRun: dryRun, Out: out}
			r, err := g.Publish(ctx, rel, notes)
			if err != nil {
				return err
			}
			if r != nil {
				fmt.Fprintf(out, "release  %s\n", r.GetHTMLURL())
			}
			return nil
		},
	}
	notesCmd := &cobra.Command{
		Use:   "notes",
		Short: "Print the release notes kpublish would publish, and publish nothing",
		Long: `notes prints the release notes for the manifest: the upstream update with upstream's shortlog
since the previous release (read from the upstream mirror), the config changes per arch against
the previous release (diffconfig form), the patches added, dropped and upstreamed, the CVEs fixed
(from a local copy of the kernel CNA's published records, --cve-records or publish.cve_records:
those that affect the previous upstream version and not the new one), and the artifacts with
sizes and SHA-256. The previous release is the newest earlier successful run beside this one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) (err error) {
			if manifestPath == "" {
				if manifestPath, err = newestRun(configPath, workDir, profile); err != nil {
					return err
				}
			}
			p, rel, m, err := load(configPath, manifestPath)
			if err != nil {
				return err
			}
			notes, err := notesFor(m, manifestPath, rel, cacheDir, cveOr(cveDir, p.Publish.CVERecords))
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), notes)
			return nil
		},
	}
	root.AddCommand(notesCmd)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVarP(&manifestPath, "manifest", "m", "", "manifest.json written by kbuild run (default: the newest successful run of --profile)")
	pf.StringVarP(&profile, "profile", "p", "wsl", "the profile whose newest run is published, without --manifest")
	pf.StringVar(&workDir, "work-dir", "", "kbuild's work dir, without --manifest (default: .work beside pipeline.yaml)")
	pf.StringVarP(&configPath, "config", "c", "pipeline.yaml", "the pipeline description (for the publish target)")
	pf.StringVar(&cacheDir, "cache-dir", cli.DefaultCacheDir(), "where kbuild keeps the upstream mirrors (the branch is pushed from there)")
	pf.StringVar(&cveDir, "cve-records", "", "a local copy of the kernel CNA's published CVE records (default: publish.cve_records)")
	f := root.Flags()
	f.BoolVarP(&dryRun, "dry-run", "n", false, "print what would be published, change nothing")
	f.BoolVar(&replace, "replace-assets", false, "replace release assets whose contents differ from ours")
	return cli.Execute(ctx, "kpublish", root, args, stderr)
}

// newestRun is the manifest of the newest successful run of the profile in the work dir.
func newestRun(configPath, workDir, profile string) (string, error) {
	p, err := config.Load(configPath)
	if err != nil {
		return "", cli.UsageError{Err: err}
	}
	_, dir, err := manifest.LatestRun(p.WorkDir(workDir), profile)
	if err != nil {
		return "", cli.UsageError{Err: err}
	}
	return filepath.Join(dir, "manifest.json"), nil
}

// load reads pipeline.yaml and the manifest, and plans the release (every output checked
// against its recorded hash); a problem with any of them is a usage error.
func load(configPath, manifestPath string) (*config.Pipeline, *publish.Release, *manifest.Manifest, error) {
	p, err := config.Load(configPath)
	if err != nil {
		return nil, nil, nil, cli.UsageError{Err: err}
	}
	rel, err := publish.FromManifest(manifestPath, p.Publish)
	if err != nil {
		return nil, nil, nil, cli.UsageError{Err: err}
	}
	m, err := manifest.Read(manifestPath)
	if err != nil {
		return nil, nil, nil, cli.UsageError{Err: err}
	}
	return p, rel, m, nil
}

// push sends the branch and tag from the upstream mirror kbuild built them in.
func push(ctx context.Context, m *manifest.Manifest, remote, cacheDir, token string, dryRun bool, out io.Writer) error {
	if remote == "" {
		return cli.UsageError{Err: errors.New("publish.remote is not set in pipeline.yaml: nowhere to push the branch and tag")}
	}
	if m.BranchHead == "" {
		return cli.UsageError{Err: errors.New("the manifest has no branch head (a tarball source builds no branch): nothing to push")}
	}
	mirror, unlock, err := upstream.OpenMirror(cacheDir, m.Upstream.GitURL)
	if err != nil {
		return err
	}
	defer unlock()
	var auth transport.AuthMethod
	if strings.HasPrefix(remote, "http") {
		auth = &githttp.BasicAuth{Username: "x-access-token", Password: token}
	}
	p := &publish.Push{Remote: remote, Branch: m.Branch, BranchRef: m.BranchRef, Head: m.BranchHead, Tag: m.Tag,
		TagMessage: tagMessage(m),
		When:       m.Upstream.CommitTime, Auth: auth, DryRun: dryRun, Out: out}
	return p.Run(ctx, mirror.Repo())
}

// tagMessage is the release tag's message; its last line records the inputs digest, which the
// next kbuild run reads to choose its revision.
func tagMessage(m *manifest.Manifest) string {
	msg := fmt.Sprintf("WSL kernel %s\n\nUpstream %s (%s), uname -r %s.\n", m.Version, m.Upstream.Tag, m.Upstream.Commit, m.KernelRelease)
	if m.InputsDigest != "" {
		msg += "\n" + published.Trailer(m.InputsDigest) + "\n"
	}
	return msg
}

// notesFor gathers what the notes compare: the previous release beside this one, upstream's
// shortlog between the two tags from the mirror, and the CVE records.
func notesFor(m *manifest.Manifest, manifestPath string, rel *publish.Release, cacheDir, cveDir string) (string, error) {
	dir := filepath.Dir(manifestPath)
	in := publish.NotesInput{Manifest: m, Dir: dir}
	current, err := version.ParseVersion(m.Version)
	if err != nil {
		return "", fmt.Errorf("%s: %w", manifestPath, err)
	}
	in.Previous, in.PrevDir = manifest.Previous(filepath.Dir(dir), current)
	if in.Previous != nil && in.Previous.Upstream.Commit != m.Upstream.Commit && m.Upstream.GitURL != "" {
		mirror, unlock, err := upstream.OpenMirror(cacheDir, m.Upstream.GitURL)
		if err != nil {
			return "", err
		}
		in.Shortlog, err = publish.Shortlog(mirror.Repo(), in.Previous.Upstream.Commit, m.Upstream.Commit)
		unlock()
		if err != nil {
			return "", err
		}
	}
	if cveDir != "" {
		var err error
		if in.CVEs, err = cve.Load(cveDir); err != nil {
			return "", err
		}
	}
	return publish.Notes(in, rel), nil
}

func cveOr(flag, cfg string) string {
	if flag != "" {
		return flag
	}
	return cfg
}
