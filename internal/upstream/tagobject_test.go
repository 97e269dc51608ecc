package upstream

import (
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/testtool"
	"github.com/wslkernel/wslkernel/internal/version"
)

// bigSignedRelease makes an upstream whose v6.12.1 holds an 8 MB incompressible blob, its tag
// signed by key; filter says whether its git-upload-pack offers partial-clone filters.
func bigSignedRelease(t *testing.T, key *openpgp.Entity, filter bool) string {
	t.Helper()
	testtool.Need(t, "git")
	dir := filepath.Join(t.TempDir(), "linux")
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	blob := make([]byte, 8<<20)
	rand.Read(blob)
	for name, body := range map[string][]byte{"Makefile": []byte("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 1\n"), "drivers/big.bin": blob} {
		os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755)
		if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
			t.Fatal(err)
		}
		wt.Add(name)
	}
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
	h, err := wt.Commit("Linux 6.12.1", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v6.12.1", h, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.1", SignKey: key}); err != nil {
		t.Fatal(err)
	}
	gitCmd(t, dir, "config", "uploadpack.allowFilter", map[bool]string{true: "true", false: "false"}[filter])
	return dir
}

// Who signed a release is in its tag object alone: a tag signed by a key not in the keyring is
// refused having read a few KB of pack, before the 8 MB tree, whether or not the server honours
// a tree:0 filter (without one the pack is read only until the tag object and the server
// stopped). A trusted tag is then fetched as before.
func TestUntrustedTagIsRefusedBeforeItsTree(t *testing.T) {
	greg, mallory := newKey(t, "greg"), newKey(t, "mallory")
	ring := keyring(t, greg)
	ctx := context.Background()
	r1, _ := version.ParseRelease("6.12.1")
	for _, filter := range []bool{true, false} {
		name := map[bool]string{true: "server filters", false: "server does not filter"}[filter]
		t.Run(name, func(t *testing.T) {
			untrusted := "file://" + bigSignedRelease(t, mallory, filter)
			start := time.Now()
			rt, err := ReadRemoteTag(ctx, untrusted, "v6.12.1")
			if err != nil || rt.Tag == nil || rt.Filtered != filter {
				t.Fatalf("ReadRemoteTag = %+v, %v; want the tag object, filtered %v", rt, err, filter)
			}
			if rt.Received > 256<<10 {
				t.Errorf("ReadRemoteTag read %d bytes of pack to find the tag object; want it before the 8 MB blob", rt.Received)
			}
			t.Logf("%s: the tag object after %d bytes of pack, in %v", name, rt.Received, time.Since(start))

			m := openMirror(t, t.TempDir(), untrusted)
			m.Trust = &Trust{Keyring: ring}
			dest := filepath.Join(t.TempDir(), "src")
			_, err = m.FetchTagTree(ctx, r1, nil, TreeRequest{Dest: dest, Workers: 2})
			if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "which is not in the keyring") || !strings.Contains(err.Error(), "its tree not fetched") {
				t.Fatalf("FetchTagTree(signed by a stranger) = %v; want ErrUntrusted, refused before the tree", err)
			}
			if !m.empty() {
				t.Errorf("the refused tag's objects entered the mirror")
			}
			if _, err := os.Lstat(dest); !os.IsNotExist(err) {
				t.Errorf("the refused tag's tree was written to %s", dest)
			}

			trusted := "file://" + bigSignedRelease(t, greg, filter)
			m = openMirror(t, t.TempDir(), trusted)
			m.Trust = &Trust{Keyring: ring}
			start = time.Now()
			if f, err := m.FetchTagTree(ctx, r1, nil, TreeRequest{Dest: dest, Workers: 2}); err != nil || f.Files != 2 {
				t.Fatalf("FetchTagTree(trusted) = %+v, %v", f, err)
			}
			t.Logf("%s: a trusted tag fetched whole (check, then tree) in %v, %d bytes of pack", name, time.Since(start), packBytes(t, m.Dir))
		})
	}
}

// With resolve: tags, the newest tag is taken only if fetch would take it: newer tags that are
// lightweight, unsigned or signed by a stranger are passed over and named, and a keyring that
// trusts none of them is an error naming each.
func TestResolveTagsTakesTheNewestThatVerifies(t *testing.T) {
	greg, mallory, nobody := newKey(t, "greg"), newKey(t, "mallory"), newKey(t, "nobody")
	dir := filepath.Join(t.TempDir(), "linux")
	repo, err := git.PlainInit(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	wt, _ := repo.Worktree()
	os.WriteFile(filepath.Join(dir, "Makefile"), []byte("SUBLEVEL = 1\n"), 0o644)
	wt.Add("Makefile")
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
	head, err := wt.Commit("Linux", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	for tag, opts := range map[string]*git.CreateTagOptions{
		"v6.12.1": {Tagger: sig, Message: "Linux 6.12.1", SignKey: greg},
		"v6.12.2": {Tagger: sig, Message: "Linux 6.12.2", SignKey: mallory},
		"v6.12.3": nil, // lightweight
		"v6.12.4": {Tagger: sig, Message: "Linux 6.12.4"},
	} {
		if _, err := repo.CreateTag(tag, head, opts); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	track, _ := version.ParseTrack("6.12")
	url := "file://" + dir
	cases := []struct {
		name    string
		trust   *Trust
		want    string
		refused []string
		err     string
	}{
		{"allow_unsigned", nil, "6.12.4", nil, ""},
		{"greg's keyring", &Trust{Keyring: keyring(t, greg)}, "6.12.1",
			[]string{"v6.12.4 is not signed", "v6.12.3 is a lightweight tag", "v6.12.2 is signed by key"}, ""},
		{"mallory's keyring", &Trust{Keyring: keyring(t, mallory)}, "6.12.2",
			[]string{"v6.12.4 is not signed", "v6.12.3 is a lightweight tag"}, ""},
		{"nobody's keyring", &Trust{Keyring: keyring(t, nobody)}, "", nil,
			"none of the newest 4 tags of 6.12 in " + url + " verifies"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := Resolve(ctx, Source{Kind: "tags", GitURL: url, Trust: c.trust}, track, "")
			if c.err != "" {
				if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "v6.12.1 is signed by key") {
					t.Errorf("Resolve = %+v, %v; want ErrUntrusted containing %q and each tag", got, err, c.err)
				}
				return
			}
			if err != nil || got.Release.String() != c.want || len(got.Refused) != len(c.refused) {
				t.Fatalf("Resolve = %+v, %v; want %s, refusing %v", got, err, c.want, c.refused)
			}
			for i, want := range c.refused {
				if !errors.Is(got.Refused[i], ErrUntrusted) || !strings.Contains(got.Refused[i].Error(), want) {
					t.Errorf("refused[%d] = %v; want ErrUntrusted containing %q", i, got.Refused[i], want)
				}
			}
		})
	}
}
