package upstream

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// ErrUntrusted is wrapped by every refusal to trust a tag.
var ErrUntrusted = errors.New("untrusted tag")

// Refused says whether err is a refusal of what upstream sent (an untrusted tag, a tree that is
// not its release, a pack past the caps): such an error is never damage to repair by fetching
// again, and the tag it concerns is forgotten by the mirror.
func Refused(err error) bool {
	return errors.Is(err, ErrUntrusted) || errors.Is(err, ErrWrongTree) || errors.Is(err, ErrTooLarge)
}

// VerifyTag checks that the release tag is annotated and signed by a key in the keyring file,
// and, when signers is not empty, that the key is one of those fingerprints. It returns the
// signer's fingerprint (upper-case hex).
func VerifyTag(t *Tagged, name, keyringFile string, signers []string) (string, error) {
	if t.Tag == nil {
		return "", fmt.Errorf("%w: %s is a lightweight tag; kernel.org releases are signed annotated tags", ErrUntrusted, name)
	}
	return VerifyTagObject(t.Tag, name, Trust{Keyring: keyringFile, Signers: signers})
}

// VerifyTagObject is VerifyTag on the tag object alone: everything that decides trust is in it
// (its target's type, its own name, its signature), so it can be decided before the tree is
// fetched (ReadRemoteTag), and by check and plan.
func VerifyTagObject(tag *object.Tag, name string, trust Trust) (string, error) {
	if err := tagsACommit(name, tag, ""); err != nil {
		return "", err
	}
	// The signature covers the tag object, whose own name says which release it vouches for:
	// upstream's ref for one release pointing at another release's genuine tag is refused.
	if tag.Name != name {
		return "", fmt.Errorf("%w: upstream's %s points at the tag object of %s (%s): a signature vouches only for the release its tag names", ErrUntrusted, name, tag.Name, tag.Hash.String()[:12])
	}
	if tag.PGPSignature == "" {
		return "", fmt.Errorf("%w: %s is not signed", ErrUntrusted, name)
	}
	// go-git's Tag.Verify reads only the keyring's first armored block: sign-check the tag's
	// bytes ourselves against every key.
	payload := &plumbing.MemoryObject{}
	if err := tag.EncodeWithoutSignature(payload); err != nil {
		return "", fmt.Errorf("%s: encoding the tag to check its signature: %w", name, err)
	}
	signed, err := payload.Reader()
	if err != nil {
		return "", fmt.Errorf("%s: encoding the tag to check its signature: %w", name, err)
	}
	return trust.VerifyDetached(name, signed, []byte(tag.PGPSignature))
}

// tagsACommit refuses a tag object whose target is not a commit. A kernel.org release tag names
// its commit; a signed tag of another tag would lend one signature to whatever the inner tag
// says, so it is refused as what it is, naming both (inner: the inner tag's name, if known).
func tagsACommit(name string, tag *object.Tag, inner string) error {
	switch tag.TargetType {
	case plumbing.CommitObject:
		return nil
	case plumbing.TagObject:
		if inner != "" {
			inner = ", named " + inner
		}
		return fmt.Errorf("%w: %s (tag object %s) is a tag of another tag (%s%s): a release tag names its commit directly, so it is refused and nothing is built from it",
			ErrUntrusted, name, tag.Hash.String()[:12], tag.Target.String()[:12], inner)
	}
	return fmt.Errorf("%w: %s (tag object %s) tags a %s (%s), not a commit: a release tag names its commit",
		ErrUntrusted, name, tag.Hash.String()[:12], tag.TargetType, tag.Target.String()[:12])
}

// Trust is who may sign what we build from.
type Trust struct {
	Keyring string   // public keys: armored blocks one after another, or binary
	Signers []string // allowed fingerprints; empty: any key in the keyring
}

// VerifyDetached checks an armored detached signature over everything signed yields, reading it
// to the end, and returns the signer's fingerprint.
func (tr Trust) VerifyDetached(name string, signed io.Reader, signature []byte) (string, error) {
	ring, err := ReadKeyring(tr.Keyring)
	if err != nil {
		io.Copy(io.Discard, signed) // a writer feeding signed must not block
		return "", err
	}
	entity, err := openpgp.CheckArmoredDetachedSignature(ring, signed, bytes.NewReader(signature), nil)
	if err != nil {
		io.Copy(io.Discard, signed)
		return "", tr.refusal(name, signature, err)
	}
	return allowed(entity, name, tr.Signers)
}

// knownIssuer refuses a detached signature whose issuer (the key ID or fingerprint it names) is
// not in the keyring, before what it signs is read: that content could only be refused at its
// end, after it was downloaded and unpacked whole. A signature naming no issuer is left to
// VerifyDetached.
func (tr Trust) knownIssuer(name string, signature []byte) error {
	ring, err := ReadKeyring(tr.Keyring)
	if err != nil {
		return err
	}
	block, err := armor.Decode(bytes.NewReader(signature))
	if err != nil {
		return fmt.Errorf("%w: %s: the signature is not armored OpenPGP: %v", ErrUntrusted, name, err)
	}
	p, err := packet.Read(block.Body)
	sig, ok := p.(*packet.Signature)
	if err != nil || !ok {
		return fmt.Errorf("%w: %s: the signature holds no OpenPGP signature packet", ErrUntrusted, name)
	}
	var id uint64
	switch {
	case len(sig.IssuerFingerprint) == 20:
		// A v4 key's ID is the last 8 bytes of its fingerprint, a v5 or v6 key's the first 8.
		id = binary.BigEndian.Uint64(sig.IssuerFingerprint[12:])
	case len(sig.IssuerFingerprint) >= 8:
		id = binary.BigEndian.Uint64(sig.IssuerFingerprint[:8])
	case sig.IssuerKeyId != nil:
		id = *sig.IssuerKeyId
	default:
		return nil
	}
	if len(ring.KeysById(id)) == 0 {
		return tr.refusal(name, signature, pgperrors.ErrUnknownIssuer)
	}
	return nil
}

// ReadKeyring reads every key in a keyring file: any number of armored blocks (gpg --export
// --armor outputs concatenated), or a binary keyring. openpgp.ReadArmoredKeyRing stops after the
// first block and would silently drop the keys after it.
func ReadKeyring(file string) (openpgp.EntityList, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !bytes.Contains(data, []byte("-----BEGIN PGP ")) {
		ring, err := openpgp.ReadKeyRing(bytes.NewReader(data))
		if err != nil {
			return nil, fmt.Errorf("keyring %s (binary, no armor found): %w", file, err)
		}
		return nonEmpty(file, ring)
	}
	// armor.Decode keeps using a bufio.Reader it is given, so each call resumes after the
	// previous block.
	r := bufio.NewReader(bytes.NewReader(data))
	var ring openpgp.EntityList
	for n := 1; ; n++ {
		block, err := armor.Decode(r)
		if err == io.EOF && n > 1 {
			return nonEmpty(file, ring)
		}
		if err != nil {
			return nil, fmt.Errorf("keyring %s: armored block %d: %w", file, n, err)
		}
		if block.Type != openpgp.PublicKeyType {
			return nil, fmt.Errorf("keyring %s: armored block %d is a %s, expected a %s: export public keys with gpg --export --armor", file, n, block.Type, openpgp.PublicKeyType)
		}
		keys, err := openpgp.ReadKeyRing(block.Body)
		if err != nil {
			return nil, fmt.Errorf("keyring %s: armored block %d: %w", file, n, err)
		}
		ring = append(ring, keys...)
	}
}

func nonEmpty(file string, ring openpgp.EntityList) (openpgp.EntityList, error) {
	if len(ring) == 0 {
		return nil, fmt.Errorf("keyring %s holds no public keys: write the signers' keys there with gpg --export --armor", file)
	}
	return ring, nil
}

// refusal explains a signature that did not verify; when the key that made it is not in the
// keyring, it names that key, since adding it (if it is trusted) is the fix.
func (tr Trust) refusal(name string, signature []byte, err error) error {
	if !errors.Is(err, pgperrors.ErrUnknownIssuer) {
		return fmt.Errorf("%w: %s: signature does not verify against %s: %v", ErrUntrusted, name, tr.Keyring, err)
	}
	key := issuer(signature)
	return fmt.Errorf("%w: %s is signed by key %s, which is not in the keyring %s: if %s is a release signer you trust, add its public key there (gpg --export --armor %s >> %s) and its fingerprint to upstream.signers; otherwise do not build this release",
		ErrUntrusted, name, key, tr.Keyring, key, key, tr.Keyring)
}

// issuer names the key that made an armored signature: its fingerprint from the issuer
// fingerprint subpacket when the signature has one, else its 64-bit key ID.
func issuer(signature []byte) string {
	block, err := armor.Decode(bytes.NewReader(signature))
	if err != nil {
		return "(unreadable signature)"
	}
	p, err := packet.Read(block.Body)
	sig, ok := p.(*packet.Signature)
	switch {
	case err != nil || !ok:
		return "(unreadable signature)"
	case len(sig.IssuerFingerprint) > 0:
		return fmt.Sprintf("%X", sig.IssuerFingerprint)
	case sig.IssuerKeyId != nil:
		return fmt.Sprintf("%016X (key ID)", *sig.IssuerKeyId)
	}
	return "(the signature names no issuer)"
}

func allowed(entity *openpgp.Entity, name string, signers []string) (string, error) {
	fpr := strings.ToUpper(fmt.Sprintf("%X", entity.PrimaryKey.Fingerprint))
	if len(signers) > 0 && !slices.Contains(signers, fpr) {
		return "", fmt.Errorf("%w: %s is signed by %s (%s), which is not among the signers pipeline.yaml trusts",
			ErrUntrusted, name, fpr, identity(entity))
	}
	return fpr, nil
}

func identity(e *openpgp.Entity) string {
	for n := range e.Identities {
		return n
	}
	return "no user id"
}
