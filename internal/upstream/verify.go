package upstream

import (
	"errors"
	"fmt"
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
