package upstream

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/storage/memory"
)

func newKey(t *testing.T, name string) *openpgp.Entity {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.invalid", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func keyring(t *testing.T, keys ...*openpgp.Entity) string {
	t.Helper()
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := k.Serialize(w); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	path := filepath.Join(t.TempDir(), "keys.asc")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// repoWithCommit makes an in-memory repository with one commit.
func repoWithCommit(t *testing.T) (*git.Repository, plumbing.Hash) {
	t.Helper()
	repo, err := git.Init(memory.NewStorage(), nil)
	if err != nil {
		t.Fatal(err)
	}
	sig := object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
	tree := &object.Tree{}
	obj := repo.Storer.NewEncodedObject()
	if err := tree.Encode(obj); err != nil {
		t.Fatal(err)
	}
	treeHash, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	c := &object.Commit{Author: sig, Committer: sig, Message: "Linux 6.12.118\n", TreeHash: treeHash}
	obj = repo.Storer.NewEncodedObject()
	if err := c.Encode(obj); err != nil {
		t.Fatal(err)
	}
	h, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	return repo, h
}

func resolveTag(t *testing.T, repo *git.Repository, name string) *Tagged {
	t.Helper()
	ref, err := repo.Reference(plumbing.NewTagReferenceName(name), false)
	if err != nil {
		t.Fatal(err)
	}
	m := &Mirror{repo: repo}
	tg, err := m.Resolve(ref)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func TestVerifyTag(t *testing.T) {
	greg, mallory := newKey(t, "greg"), newKey(t, "mallory")
	gregFpr := strings.ToUpper(hex.EncodeToString(greg.PrimaryKey.Fingerprint))
	repo, commit := repoWithCommit(t)
	tagger := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
	mustTag := func(name string, opts *git.CreateTagOptions) {
		if _, err := repo.CreateTag(name, commit, opts); err != nil {
			t.Fatal(err)
		}
	}
	mustTag("signed", &git.CreateTagOptions{Tagger: tagger, Message: "Linux 6.12.118", SignKey: greg})
	mustTag("by-mallory", &git.CreateTagOptions{Tagger: tagger, Message: "Linux 6.12.118", SignKey: mallory})
	mustTag("unsigned", &git.CreateTagOptions{Tagger: tagger, Message: "Linux 6.12.118"})
	mustTag("lightweight", nil)

	// The signed tag with its message changed after signing, signature kept.
	signed := resolveTag(t, repo, "signed")
	altered := *signed.Tag
	altered.Message = "Linux 6.12.118 (with a backdoor)\n"
	obj := repo.Storer.NewEncodedObject()
	if err := altered.Encode(obj); err != nil {
		t.Fatal(err)
	}
	alteredHash, err := repo.Storer.SetEncodedObject(obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Storer.SetReference(plumbing.NewHashReference(plumbing.NewTagReferenceName("altered"), alteredHash)); err != nil {
		t.Fatal(err)
	}

	ring := keyring(t, greg)
	fpr, err := VerifyTag(signed, "signed", ring, nil)
	if err != nil || fpr != gregFpr {
		t.Fatalf("VerifyTag(signed) = %q, %v; want %s", fpr, err, gregFpr)
	}
	if _, err := VerifyTag(signed, "signed", ring, []string{gregFpr}); err != nil {
		t.Errorf("VerifyTag(signed, signers=[greg]) = %v", err)
	}
	for _, tc := range []struct {
		tag     string
		signers []string
		want    string
	}{
		{"lightweight", nil, "lightweight is a lightweight tag"},
		{"unsigned", nil, "unsigned is not signed"},
		{"by-mallory", nil, "by-mallory: signature does not verify against " + ring},
		{"altered", nil, "altered: signature does not verify"},
		{"signed", []string{strings.Repeat("A", 40)}, "signed is signed by " + gregFpr + " (greg <greg@example.invalid>), which is not among the signers"},
	} {
		_, err := VerifyTag(resolveTag(t, repo, tc.tag), tc.tag, ring, tc.signers)
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("VerifyTag(%s) = %v; want ErrUntrusted containing %q", tc.tag, err, tc.want)
		}
	}
	if _, err := VerifyTag(signed, "signed", filepath.Join(t.TempDir(), "none.asc"), nil); err == nil || !strings.Contains(err.Error(), "keyring:") {
		t.Errorf("VerifyTag with a missing keyring = %v", err)
	}
}
