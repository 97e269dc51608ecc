package upstream

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/ProtonMail/go-crypto/openpgp"
)

// ErrUntrusted is wrapped by every refusal to trust a tag.
var ErrUntrusted = errors.New("untrusted tag")

// VerifyTag checks that the release tag is annotated and signed by a key in the armored keyring
// file, and, when signers is not empty, that the key is one of those fingerprints. It returns the
// signer's fingerprint (upper-case hex).
func VerifyTag(t *Tagged, name, keyringFile string, signers []string) (string, error) {
	if t.Tag == nil {
		return "", fmt.Errorf("%w: %s is a lightweight tag; kernel.org releases are signed annotated tags", ErrUntrusted, name)
	}
	if t.Tag.PGPSignature == "" {
		return "", fmt.Errorf("%w: %s is not signed", ErrUntrusted, name)
	}
	armored, err := os.ReadFile(keyringFile)
	if err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	entity, err := t.Tag.Verify(string(armored))
	if err != nil {
		return "", fmt.Errorf("%w: %s: signature does not verify against %s: %v", ErrUntrusted, name, keyringFile, err)
	}
	return allowed(entity, name, signers)
}

// Trust is who may sign what we build from.
type Trust struct {
	Keyring string   // armored public keys
	Signers []string // allowed fingerprints; empty: any key in the keyring
}

// VerifyDetached checks an armored detached signature over everything signed yields, reading it
// to the end, and returns the signer's fingerprint.
func (tr Trust) VerifyDetached(name string, signed io.Reader, signature []byte) (string, error) {
	f, err := os.Open(tr.Keyring)
	if err != nil {
		return "", fmt.Errorf("keyring: %w", err)
	}
	defer f.Close()
	ring, err := openpgp.ReadArmoredKeyRing(f)
	if err != nil {
		return "", fmt.Errorf("keyring %s: %w", tr.Keyring, err)
	}
	entity, err := openpgp.CheckArmoredDetachedSignature(ring, signed, bytes.NewReader(signature), nil)
	if err != nil {
		io.Copy(io.Discard, signed) // a writer feeding signed must not block
		return "", fmt.Errorf("%w: %s: signature does not verify against %s: %v", ErrUntrusted, name, tr.Keyring, err)
	}
	return allowed(entity, name, tr.Signers)
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
