package pipeline

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/upstream"
)

// commitRelease adds a commit whose Makefile says 6.12.<sublevel> to the fixture's upstream.
func commitRelease(t *testing.T, repo *git.Repository, dir string, sublevel int) plumbing.Hash {
	t.Helper()
	wt, _ := repo.Worktree()
	if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte(makefileOf(sublevel)), 0o644); err != nil {
		t.Fatal(err)
	}
	wt.Add("Makefile")
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161+int64(sublevel), 0)}
	h, err := wt.Commit("Linux 6.12.x", &git.CommitOptions{Author: sig, Committer: sig})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// A tag refused for what it is (a tag of a tag, an unknown signer, a tree of another release, a
// pack past the caps) fails the fetch as a refusal: the shared mirror is not taken for damaged
// (no REPAIR, the release fetched before it still there), and the refused tag's refs leave it,
// so no later run or command takes it for fetched and fine.
func TestRefusedTagIsNotRepairAndLeavesTheMirror(t *testing.T) {
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161, 0)}
	stranger, err := openpgp.NewEntity("stranger", "", "stranger@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		tag   func(t *testing.T, repo *git.Repository, dir string, key *openpgp.Entity)
		is    error
		says  string
		extra string // more of the upstream setting
	}{
		{"tag of a tag", func(t *testing.T, repo *git.Repository, _ string, key *openpgp.Entity) {
			inner, _ := repo.Tag("v6.12.118")
			if _, err := repo.CreateTag("v6.12.119", inner.Hash(), &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: key}); err != nil {
				t.Fatal(err)
			}
		}, upstream.ErrUntrusted, "v6.12.119 (tag object ", ""},
		{"unknown signer", func(t *testing.T, repo *git.Repository, dir string, _ *openpgp.Entity) {
			c := commitRelease(t, repo, dir, 119)
			if _, err := repo.CreateTag("v6.12.119", c, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: stranger}); err != nil {
				t.Fatal(err)
			}
		}, upstream.ErrUntrusted, "which is not in the keyring", ""},
		{"tree of another release", func(t *testing.T, repo *git.Repository, _ string, key *openpgp.Entity) {
			head, _ := repo.Head()
			if _, err := repo.CreateTag("v6.12.119", head.Hash(), &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: key}); err != nil {
				t.Fatal(err)
			}
		}, upstream.ErrWrongTree, "holds Linux 6.12.118", ""},
		{"a pack past the caps", func(t *testing.T, repo *git.Repository, dir string, key *openpgp.Entity) {
			big := make([]byte, 3<<19)
			rand.Read(big)
			os.WriteFile(filepath.Join(dir, "big"), big, 0o644)
			wt, _ := repo.Worktree()
			wt.Add("big")
			c := commitRelease(t, repo, dir, 119)
			if _, err := repo.CreateTag("v6.12.119", c, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: key}); err != nil {
				t.Fatal(err)
			}
		}, upstream.ErrTooLarge, "declares 1.5 MiB, over the cap of 1.0 MiB for one object", ", max_entry: 1MiB"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			korg, key := upstreamFixtureKey(t)
			l := lineWith(t, korg, c.extra, map[string]string{"frag.config": "", "series": ""})
			work := t.TempDir()
			opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: &bytes.Buffer{}}
			fetch := func() error {
				plan, err := NewPlan(context.Background(), l, opts)
				if err != nil {
					t.Fatal(err)
				}
				_, err = Fetch(context.Background(), plan, opts)
				return err
			}
			if err := fetch(); err != nil {
				t.Fatalf("Fetch(v6.12.118) = %v", err)
			}
			repo, err := git.PlainOpen(filepath.Join(korg, "linux"))
			if err != nil {
				t.Fatal(err)
			}
			c.tag(t, repo, filepath.Join(korg, "linux"), key)
			os.WriteFile(filepath.Join(korg, "releases.json"), []byte(`{"releases":[{"iseol":false,"version":"6.12.119","moniker":"longterm"}]}`), 0o644)

			out := &bytes.Buffer{}
			opts.Out = out
			err = fetch()
			if !errors.Is(err, c.is) || errors.Is(err, upstream.ErrDamaged) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("Fetch(v6.12.119, %s) = %v; want %v, not damage, saying %q", c.name, err, c.is, c.says)
			}
			if strings.Contains(out.String(), "REPAIR") {
				t.Errorf("a refusal was repaired:\n%s", out)
			}
			mirrors, _ := filepath.Glob(filepath.Join(work, "cache/mirrors/*.git"))
			if len(mirrors) != 1 {
				t.Fatalf("mirrors: %v", mirrors)
			}
			m, err := git.PlainOpen(mirrors[0])
			if err != nil {
				t.Fatal(err)
			}
			for _, ref := range []string{"refs/tags/v6.12.119", "refs/commits/v6.12.119"} {
				if _, err := m.Reference(plumbing.ReferenceName(ref), false); err == nil {
					t.Errorf("the mirror still has the refused %s", ref)
				}
			}
			if _, err := m.Reference("refs/tags/v6.12.118", false); err != nil {
				t.Errorf("the mirror lost v6.12.118, fetched before: %v", err)
			}
		})
	}
}

// Only damage is repaired: a refusal is never, even when something wrapped it with damage.
func TestOnlyDamageIsRepaired(t *testing.T) {
	other := errors.New("unsafe path") // another package's refusal: not damage
	cases := []struct {
		err  error
		want bool
	}{
		{fmt.Errorf("%w: pack truncated", upstream.ErrDamaged), true},
		{fmt.Errorf("%w: v6.12.1 is not signed", upstream.ErrUntrusted), false},
		{fmt.Errorf("%w: %w", upstream.ErrDamaged, upstream.ErrUntrusted), false},
		{fmt.Errorf("%w: %w", upstream.ErrDamaged, upstream.ErrWrongTree), false},
		{fmt.Errorf("tree: %w", other), false},
		{nil, false},
	}
	for _, c := range cases {
		if got := damaged(c.err); got != c.want {
			t.Errorf("damaged(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}

// With resolve: tags, check and plan choose the release fetch would take: newer tags it would
// refuse (a lightweight one, one signed by a stranger) are passed over and named, so a cron
// `check && run` builds the newest trusted release instead of failing on every run.
func TestCheckAndPlanPassOverTagsFetchWouldRefuse(t *testing.T) {
	korg, _ := upstreamFixtureKey(t)
	repo, err := git.PlainOpen(filepath.Join(korg, "linux"))
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := openpgp.NewEntity("stranger", "", "stranger@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	sig := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1763726161, 0)}
	c119 := commitRelease(t, repo, filepath.Join(korg, "linux"), 119)
	if _, err := repo.CreateTag("v6.12.119", c119, &git.CreateTagOptions{Tagger: sig, Message: "Linux 6.12.119", SignKey: stranger}); err != nil {
		t.Fatal(err)
	}
	if _, err := repo.CreateTag("v6.12.120", commitRelease(t, repo, filepath.Join(korg, "linux"), 120), nil); err != nil {
		t.Fatal(err)
	}
	l := lineWith(t, korg, ", resolve: tags", map[string]string{"frag.config": "", "series": ""})
	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache")}
	res, err := Check(context.Background(), l, opts)
	if err != nil || res.Upstream.String() != "6.12.118" || len(res.Refused) != 2 {
		t.Fatalf("Check = %+v, %v; want 6.12.118, refusing v6.12.120 and v6.12.119", res, err)
	}
	var out bytes.Buffer
	res.Print(&out)
	for _, want := range []string{"refused  untrusted tag: v6.12.120 is a lightweight tag", "refused  untrusted tag: v6.12.119 is signed by key", "upstream 6.12.118; nothing built yet"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("check printed:\n%s\nwant %q", out.String(), want)
		}
	}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil || plan.Release.String() != "6.12.118" {
		t.Fatalf("NewPlan = %v; want 6.12.118", err)
	}
	out.Reset()
	plan.Print(&out)
	if !strings.Contains(out.String(), "upstream v6.12.118 (") || !strings.Contains(out.String(), "refused  untrusted tag: v6.12.120") {
		t.Errorf("plan printed:\n%s", out.String())
	}
}
