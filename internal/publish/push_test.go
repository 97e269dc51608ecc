package publish

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/wslkernel/wslkernel/internal/gittest"
)

func TestPushBranchAndTagOnceAndNeverMoveTheTag(t *testing.T) {
	mirror, remote := t.TempDir(), t.TempDir()
	gittest.Git(t, mirror, "init", "-q")
	gittest.Git(t, mirror, "commit", "-q", "--allow-empty", "-m", "upstream v6.12.118")
	gittest.Git(t, mirror, "commit", "-q", "--allow-empty", "-m", "Microsoft: add instructions")
	head := gittest.Git(t, mirror, "rev-parse", "HEAD")
	gittest.Git(t, mirror, "update-ref", "refs/wslkernel/smoke/heads/linux-msft-wsl-6.12.y", head)
	gittest.Git(t, remote, "init", "-q", "--bare")
	repo, err := git.PlainOpen(mirror)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	p := &Push{Remote: "file://" + remote, Branch: "linux-msft-wsl-6.12.y", BranchRef: "refs/wslkernel/smoke/heads/linux-msft-wsl-6.12.y",
		Head: head, Tag: "linux-msft-wsl-6.12.118.1", TagMessage: "WSL kernel 6.12.118.1\n", When: time.Date(2026, 11, 21, 12, 56, 1, 0, time.UTC), Out: &out}
	// A dry run names what it would store and push and changes nothing, here or there; the real
	// run then makes exactly those writes.
	p.Writes = DryRunRefWrites(&out)
	if err := p.Run(context.Background(), repo); err != nil {
		t.Fatalf("dry run: %v\n%s", err, out.String())
	}
	if refs := gittest.Git(t, remote, "for-each-ref"); refs != "" {
		t.Errorf("a dry run pushed: %s", refs)
	}
	if _, err := repo.Reference("refs/wslkernel/tags/linux-msft-wsl-6.12.118.1", false); err == nil {
		t.Errorf("a dry run stored the tag in the mirror")
	}
	printed := out.String()
	p.Writes = nil
	out.Reset()
	if err := p.Run(context.Background(), repo); err != nil {
		t.Fatalf("Push: %v\n%s", err, out.String())
	}
	stored := gittest.Git(t, mirror, "rev-parse", "refs/wslkernel/tags/linux-msft-wsl-6.12.118.1")
	pushed := gittest.Git(t, remote, "for-each-ref", "--format=%(refname)")
	want := fmt.Sprintf("would    store tag object %s as refs/wslkernel/tags/linux-msft-wsl-6.12.118.1 in the mirror\n", stored)
	for _, ref := range strings.Split(pushed, "\n") {
		src := map[string]string{"refs/heads/linux-msft-wsl-6.12.y": "+refs/wslkernel/smoke/heads/linux-msft-wsl-6.12.y",
			"refs/tags/linux-msft-wsl-6.12.118.1": "refs/wslkernel/tags/linux-msft-wsl-6.12.118.1"}[ref]
		want += fmt.Sprintf("would    push %s:%s to file://%s\n", src, ref, remote)
	}
	if printed != want {
		t.Errorf("the dry run printed\n%swant (the writes the real run made)\n%s", printed, want)
	}
	if got := gittest.Git(t, remote, "rev-parse", "refs/heads/linux-msft-wsl-6.12.y"); got != head {
		t.Errorf("remote branch at %s, want %s", got, head)
	}
	if typ := gittest.Git(t, remote, "cat-file", "-t", "refs/tags/linux-msft-wsl-6.12.118.1"); typ != "tag" {
		t.Errorf("remote tag is a %s, want an annotated tag", typ)
	}
	if got := gittest.Git(t, remote, "rev-parse", "linux-msft-wsl-6.12.118.1^{commit}"); got != head {
		t.Errorf("the tag names %s, want %s", got, head)
	}
	tagger := gittest.Git(t, remote, "for-each-ref", "--format=%(taggername) %(taggeremail) %(taggerdate:iso-strict)", "refs/tags/linux-msft-wsl-6.12.118.1")
	if tagger != "wslkernel kbuild <kbuild@wslkernel.invalid> 2026-11-21T12:56:01+00:00" {
		t.Errorf("tagger %q", tagger)
	}
	// Again: the same tag object, nothing to push.
	out.Reset()
	if err := p.Run(context.Background(), repo); err != nil || !strings.Contains(out.String(), "kept     branch") || !strings.Contains(out.String(), "kept     tag") {
		t.Errorf("second push: %v\n%s", err, out.String())
	}
	// A rebuilt branch (a new release on a new upstream) is force-pushed; the tag never moves.
	gittest.Git(t, mirror, "commit", "-q", "--allow-empty", "--amend", "-m", "Microsoft: add instructions (v2)")
	head2 := gittest.Git(t, mirror, "rev-parse", "HEAD")
	gittest.Git(t, mirror, "update-ref", "refs/wslkernel/smoke/heads/linux-msft-wsl-6.12.y", head2)
	p.Head = head2
	err = p.Run(context.Background(), repo)
	if err == nil || !strings.Contains(err.Error(), "refusing to move a published tag") {
		t.Errorf("push moving the tag = %v", err)
	}
	p.Tag = "linux-msft-wsl-6.12.118.2"
	if err := p.Run(context.Background(), repo); err != nil {
		t.Fatal(err)
	}
	if got := gittest.Git(t, remote, "rev-parse", "refs/heads/linux-msft-wsl-6.12.y"); got != head2 {
		t.Errorf("branch not force-updated: %s", got)
	}
	// A manifest whose head the mirror's branch no longer has is refused.
	p.Head = head
	if err := p.Run(context.Background(), repo); err == nil || !strings.Contains(err.Error(), "a later run moved it") {
		t.Errorf("push of a stale head = %v", err)
	}
}
