package published

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/transport"

	"github.com/wslkernel/wslkernel/internal/version"
)

func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=a", "GIT_AUTHOR_EMAIL=a@x", "GIT_COMMITTER_NAME=a", "GIT_COMMITTER_EMAIL=a@x")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// remoteWithReleases is a publish remote holding release tags of several kinds.
func remoteWithReleases(t *testing.T) string {
	t.Helper()
	work := t.TempDir()
	gitIn(t, work, "init", "-q")
	os.WriteFile(filepath.Join(work, "Makefile"), []byte("SUBLEVEL = 117\n"), 0o644)
	gitIn(t, work, "add", "-A")
	gitIn(t, work, "commit", "-qm", "6.12.117")
	gitIn(t, work, "tag", "-a", "-m", "WSL kernel 6.12.117.1\n\n"+Trailer("aaa"), "linux-msft-wsl-6.12.117.1")
	os.WriteFile(filepath.Join(work, "Makefile"), []byte("SUBLEVEL = 118\n"), 0o644)
	gitIn(t, work, "commit", "-qam", "6.12.118")
	gitIn(t, work, "tag", "-a", "-m", "WSL kernel 6.12.118.1\n\n"+Trailer("bbb"), "linux-msft-wsl-6.12.118.1")
	os.WriteFile(filepath.Join(work, "config"), []byte("CONFIG_X=y\n"), 0o644)
	gitIn(t, work, "add", "-A")
	gitIn(t, work, "commit", "-qm", "configs")
	gitIn(t, work, "tag", "-a", "-m", "WSL kernel 6.12.118.2\n\n"+Trailer("ccc")+"\n", "linux-msft-wsl-6.12.118.2")
	gitIn(t, work, "tag", "linux-msft-wsl-6.12.99.1")     // lightweight, by hand
	gitIn(t, work, "tag", "v6.12.118")                    // upstream's, not ours
	gitIn(t, work, "tag", "linux-msft-wsl-6.12.118.2-rc") // not what the template makes
	bare := filepath.Join(t.TempDir(), "remote.git")
	gitIn(t, work, "clone", "-q", "--bare", work, bare)
	return bare
}

func TestListReadsTheReleaseTagsNewestFirst(t *testing.T) {
	remote := remoteWithReleases(t)
	rels, err := List(context.Background(), "file://"+remote, "linux-msft-wsl-{version}")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rels {
		got = append(got, r.Tag)
	}
	if strings.Join(got, " ") != "linux-msft-wsl-6.12.118.2 linux-msft-wsl-6.12.118.1 linux-msft-wsl-6.12.117.1 linux-msft-wsl-6.12.99.1" {
		t.Fatalf("List = %v", got)
	}
	head := gitIn(t, remote, "rev-parse", "linux-msft-wsl-6.12.118.2^{commit}")
	if rels[0].Commit.String() != head || rels[0].TagObject == rels[0].Commit {
		t.Errorf("newest release: commit %s (want %s), tag object %s", rels[0].Commit, head, rels[0].TagObject)
	}
	up, _ := version.ParseRelease("6.12.118")
	if l := LatestOf(rels, up); l == nil || l.Version.Rev != 2 {
		t.Errorf("LatestOf(6.12.118) = %+v, want rev 2", l)
	}
	if l := LatestOf(rels, version.Release{Major: 6, Minor: 12, Patch: 119}); l != nil {
		t.Errorf("LatestOf(6.12.119) = %+v, want none", l)
	}
	// {series} in the template must agree with the version's own series.
	rels, err = List(context.Background(), "file://"+remote, "linux-msft-wsl-{version}")
	if err != nil || len(rels) != 4 {
		t.Fatalf("List again = %v, %v", rels, err)
	}
	if _, err := List(context.Background(), "file://"+remote, "linux-msft-wsl-{upstream}"); err == nil {
		t.Error("a template without {version} was accepted")
	}
}

// The digest is read from the tag message; a repo without the tag (a fresh CI runner's mirror)
// fetches it first; a lightweight tag has none.
func TestInputsOfReadsTheTagMessage(t *testing.T) {
	ctx := context.Background()
	remote := remoteWithReleases(t)
	rels, err := List(ctx, "file://"+remote, "linux-msft-wsl-{version}")
	if err != nil {
		t.Fatal(err)
	}
	mirror, err := git.PlainInit(t.TempDir(), true)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"ccc", "bbb", "aaa"} {
		got, err := InputsOf(ctx, mirror, "file://"+remote, rels[i])
		if err != nil || got != want {
			t.Errorf("InputsOf(%s) = %q, %v; want %q", rels[i].Tag, got, err, want)
		}
	}
	if _, err := InputsOf(ctx, mirror, "file://"+remote, rels[3]); !errors.Is(err, ErrNoInputs) {
		t.Errorf("InputsOf(lightweight tag) = %v, want ErrNoInputs", err)
	}
}

func TestListOfAnEmptyOrMissingRemote(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty.git")
	gitIn(t, t.TempDir(), "init", "-q", "--bare", empty)
	if rels, err := List(context.Background(), "file://"+empty, "x-{version}"); err != nil || len(rels) != 0 {
		t.Errorf("List(empty remote) = %v, %v; want nothing, no error", rels, err)
	}
	_, err := List(context.Background(), "file://"+filepath.Join(t.TempDir(), "nope.git"), "x-{version}")
	if err == nil || !strings.Contains(err.Error(), "nope.git") {
		t.Errorf("List(missing remote) = %v, want an error naming it", err)
	}
}

// A remote that cannot be read is said in a few words on one line, whatever the transport says.
func TestReadErrorIsOneShortLine(t *testing.T) {
	dns := &url.Error{Op: "Get", URL: "https://github.com/o/r.git/info/refs?service=git-upload-pack",
		Err: &net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "github.com", Server: "10.0.0.53:53", IsNotFound: true}}}
	for _, c := range []struct {
		remote string
		err    error
		want   string
	}{
		{"https://github.com/wslkernel/WSL2-Linux-Kernel.git", dns, "github.com unreachable"},
		{"https://ghe.example:8443/o/r.git", transport.ErrAuthenticationRequired, "ghe.example refused access"},
		{"file:///srv/gone.git", transport.ErrRepositoryNotFound, "no repository at file:///srv/gone.git"},
		{"ssh://git@example.org/o/r.git", errors.New("error creating SSH agent\nmore"), "ssh://git@example.org/o/r.git: error creating SSH agent"},
	} {
		if got := (&ReadError{Remote: c.remote, Err: c.err}).Error(); got != c.want {
			t.Errorf("ReadError{%s, %v} = %q, want %q", c.remote, c.err, got, c.want)
		}
	}
	// And from List itself: a refused connection, a missing repository.
	for remote, want := range map[string]string{
		"https://127.0.0.1:1/o/r.git":      "127.0.0.1 unreachable",
		"file://" + t.TempDir() + "/x.git": "no repository at file://",
	} {
		_, err := List(context.Background(), remote, "x-{version}")
		var re *ReadError
		if !errors.As(err, &re) || !strings.HasPrefix(err.Error(), want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("List(%s) = %v, want one line starting %q", remote, err, want)
		}
	}
}
