package upstream

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	"gopkg.in/yaml.v3"
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
		{"by-mallory", nil, "by-mallory is signed by key " + fingerprint(mallory) + ", which is not in the keyring " + ring + ": if " + fingerprint(mallory) + " is a release signer you trust, add its public key there"},
		{"signed", []string{strings.Repeat("A", 40)}, "signed is signed by " + gregFpr + " (greg <greg@example.invalid>), which is not among the signers"},
	} {
		_, err := VerifyTag(resolveTag(t, repo, tc.tag), tc.tag, ring, tc.signers)
		if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("VerifyTag(%s) = %v; want ErrUntrusted containing %q", tc.tag, err, tc.want)
		}
	}
	// The message changed after signing: asked under the tag object's own name, the signature fails.
	if _, err := VerifyTag(resolveTag(t, repo, "altered"), "signed", ring, nil); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "signed: signature does not verify") {
		t.Errorf("VerifyTag(altered) = %v; want ErrUntrusted: signature does not verify", err)
	}
	// Upstream's ref for another release pointing at this genuine, signed tag object.
	if _, err := VerifyTag(signed, "v6.12.2", ring, nil); !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), "upstream's v6.12.2 points at the tag object of signed") {
		t.Errorf("VerifyTag(signed tag object, asked as v6.12.2) = %v; want ErrUntrusted naming both", err)
	}
	if _, err := VerifyTag(signed, "signed", filepath.Join(t.TempDir(), "none.asc"), nil); err == nil || !strings.Contains(err.Error(), "keyring:") {
		t.Errorf("VerifyTag with a missing keyring = %v", err)
	}
}

// gpgKeys makes an ed25519 signing key per name with the real gpg, in a throwaway home, and
// returns each key's public half as `gpg --export --armor` writes it, and its private half.
func gpgKeys(t *testing.T, names ...string) ([][]byte, []*openpgp.Entity) {
	t.Helper()
	if _, err := exec.LookPath("gpg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("gpg is missing: scripts/setup installs it")
		}
		t.Skip("needs gpg")
	}
	home := t.TempDir()
	t.Cleanup(func() { exec.Command("gpgconf", "--homedir", home, "--kill", "gpg-agent").Run() })
	gpg := func(args ...string) []byte {
		cmd := exec.Command("gpg", append([]string{"--homedir", home, "--batch", "--pinentry-mode", "loopback", "--passphrase", ""}, args...)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("gpg %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	var public [][]byte
	var private []*openpgp.Entity
	for _, name := range names {
		uid := name + "@example.invalid"
		gpg("--quick-gen-key", name+" <"+uid+">", "ed25519", "sign", "never")
		public = append(public, gpg("--export", "--armor", uid))
		secret, err := openpgp.ReadArmoredKeyRing(bytes.NewReader(gpg("--export-secret-keys", "--armor", uid)))
		if err != nil || len(secret) != 1 {
			t.Fatalf("reading gpg's secret key %s: %d keys, %v", uid, len(secret), err)
		}
		private = append(private, secret[0])
	}
	return public, private
}

func fingerprint(e *openpgp.Entity) string {
	return strings.ToUpper(hex.EncodeToString(e.PrimaryKey.Fingerprint))
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestTwoArmoredBlocks: a keyring made of two `gpg --export --armor` outputs, one after the
// other, trusts the key in the second block as much as the one in the first.
func TestTwoArmoredBlocks(t *testing.T) {
	public, private := gpgKeys(t, "greg", "sasha")
	ring := writeFile(t, "keys.asc", bytes.Join(public, nil))
	repo, commit := repoWithCommit(t)
	tagger := &object.Signature{Name: "Sasha", Email: "sasha@example.invalid", When: time.Unix(1700000000, 0)}
	if _, err := repo.CreateTag("v6.12.118", commit, &git.CreateTagOptions{Tagger: tagger, Message: "Linux 6.12.118", SignKey: private[1]}); err != nil {
		t.Fatal(err)
	}
	signers := []string{fingerprint(private[0]), fingerprint(private[1])}
	fpr, err := VerifyTag(resolveTag(t, repo, "v6.12.118"), "v6.12.118", ring, signers)
	if err != nil || fpr != fingerprint(private[1]) {
		t.Errorf("VerifyTag(signed by the second block's key) = %q, %v; want %s", fpr, err, fingerprint(private[1]))
	}
}

func TestReadKeyring(t *testing.T) {
	greg, sasha := newKey(t, "greg"), newKey(t, "sasha")
	armored := func(keys ...*openpgp.Entity) []byte {
		data, err := os.ReadFile(keyring(t, keys...))
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	var binary bytes.Buffer
	for _, k := range []*openpgp.Entity{greg, sasha} {
		if err := k.Serialize(&binary); err != nil {
			t.Fatal(err)
		}
	}
	twoBlocks := append(append(armored(greg), "\n"...), armored(sasha)...)
	both := []string{fingerprint(greg), fingerprint(sasha)}
	for _, tc := range []struct {
		name string
		data []byte
		want []string // fingerprints; nil: an error containing err
		err  string
	}{
		{"one block", armored(greg, sasha), both, ""},
		{"two blocks", twoBlocks, both, ""},
		{"two blocks, text around them", append(append([]byte("greg:\n"), twoBlocks...), "end\n"...), both, ""},
		{"binary", binary.Bytes(), both, ""},
		{"second block cut short", twoBlocks[:len(twoBlocks)-60], nil, "armored block 2"},
		{"a signature, not keys", []byte("-----BEGIN PGP SIGNATURE-----\n\nwx4=\n-----END PGP SIGNATURE-----\n"), nil, "armored block 1 is a PGP SIGNATURE, expected a PGP PUBLIC KEY BLOCK"},
		{"empty", nil, nil, "holds no public keys"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "keys.asc", tc.data)
			ring, err := ReadKeyring(path)
			var got []string
			for _, e := range ring {
				got = append(got, fingerprint(e))
			}
			switch {
			case tc.want != nil && (err != nil || !slices.Equal(got, tc.want)):
				t.Errorf("ReadKeyring = %v, %v; want %v", got, err, tc.want)
			case tc.want == nil && (err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("ReadKeyring = %v, %v; want an error naming %s and containing %q", got, err, path, tc.err)
			}
		})
	}
}

// TestUnknownSignerByKeyID: a signature without the issuer fingerprint subpacket (older gpg,
// other tools) names its key by the 64-bit key ID it does carry.
func TestUnknownSignerByKeyID(t *testing.T) {
	const keyID = 0x38DBBDC86092693E
	// A v4 EdDSA signature packet as older tools write them: creation time hashed, the issuer
	// only as a key ID in the unhashed area. Its values are dummies: a signature by a key not
	// in the keyring is refused before they would be checked.
	body := []byte{4, byte(packet.SigTypeBinary), byte(packet.PubKeyAlgoEdDSA), 8 /* SHA256 */, 0, 6, 5, 2, 0x65, 0x53, 0xf1, 0x00, 0, 10, 9, 16}
	body = binary.BigEndian.AppendUint64(body, keyID)
	body = append(body, 0, 0, 0, 1, 1, 0, 1, 1) // hash's left 16 bits, R and S as 1-bit MPIs
	var armored bytes.Buffer
	w, err := armor.Encode(&armored, openpgp.SignatureType, nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Write(append([]byte{0xC2, byte(len(body))}, body...)) // new-format packet, tag 2
	w.Close()
	ring := keyring(t, newKey(t, "greg"))
	_, err = Trust{Keyring: ring}.VerifyDetached("linux-6.12.118.tar.xz", strings.NewReader("tar\n"), armored.Bytes())
	want := "linux-6.12.118.tar.xz is signed by key 38DBBDC86092693E (key ID), which is not in the keyring " + ring
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), want) {
		t.Errorf("VerifyDetached(signature with only a key ID) = %v; want ErrUntrusted containing %q", err, want)
	}
}

// TestKernelOrgKeyring: the committed keyring holds exactly the three stable signers that
// pipeline.yaml trusts, and with it a tag signed by any other key is refused, naming that key.
func TestKernelOrgKeyring(t *testing.T) {
	const ring = "../../keys/kernel.org.asc"
	keys, err := ReadKeyring(ring)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range keys {
		got = append(got, fingerprint(k))
	}
	slices.Sort(got)
	want := []string{
		"647F28654894E3BD457199BE38DBBDC86092693E", // Greg Kroah-Hartman
		"ABAF11C65A2970B130ABE3C479BE3E4300411886", // Linus Torvalds
		"E27E5D8A3403A2EF66873BBCDEA66FF797772CDC", // Sasha Levin
	}
	if !slices.Equal(got, want) {
		t.Fatalf("%s holds %v, want %v", ring, got, want)
	}

	data, err := os.ReadFile("../../pipeline.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var line struct {
		Upstream struct {
			Keyring string   `yaml:"keyring"`
			Signers []string `yaml:"signers"`
		} `yaml:"upstream"`
	}
	if err := yaml.Unmarshal(data, &line); err != nil {
		t.Fatal(err)
	}
	signers := slices.Sorted(slices.Values(line.Upstream.Signers))
	if line.Upstream.Keyring != "keys/kernel.org.asc" || !slices.Equal(signers, want) {
		t.Fatalf("pipeline.yaml trusts %v in %s, want %v in keys/kernel.org.asc", signers, line.Upstream.Keyring, want)
	}

	mallory := newKey(t, "mallory")
	repo, commit := repoWithCommit(t)
	tagger := &object.Signature{Name: "Greg", Email: "greg@example.invalid", When: time.Unix(1700000000, 0)}
	if _, err := repo.CreateTag("v6.12.118", commit, &git.CreateTagOptions{Tagger: tagger, Message: "Linux 6.12.118", SignKey: mallory}); err != nil {
		t.Fatal(err)
	}
	_, err = VerifyTag(resolveTag(t, repo, "v6.12.118"), "v6.12.118", ring, line.Upstream.Signers)
	wantErr := "v6.12.118 is signed by key " + fingerprint(mallory) + ", which is not in the keyring " + ring
	if !errors.Is(err, ErrUntrusted) || !strings.Contains(err.Error(), wantErr) {
		t.Errorf("VerifyTag(signed by a key outside kernel.org.asc) = %v; want ErrUntrusted containing %q", err, wantErr)
	}
}
