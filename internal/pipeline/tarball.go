package pipeline

import (
	"context"
	"fmt"

	"github.com/wslkernel/wslkernel/internal/upstream"
)

// fetchTarball makes the release's verified tree from kernel.org's tarballs (upstream.Unpack)
// and records where it came from and who signed it.
func (r *run) fetchTarball() (string, error) {
	l := r.plan.Line
	rel := r.plan.Release
	trust := upstream.Trust{Keyring: l.Upstream.Keyring, Signers: l.Upstream.Signers}
	dest, u, err := upstream.Unpack(context.Background(), r.opts.Runner, r.opts.CacheDir, l.Upstream.Tarballs, rel, trust)
	if err != nil {
		return "", err
	}
	r.pristine = dest
	r.m.Upstream.Signer = u.Signer
	r.m.Upstream.Commit = u.Commit
	r.m.Upstream.CommitTime = u.ModTime.UTC()
	r.m.Upstream.GitURL = upstream.TarballURL(l.Upstream.Tarballs, rel)
	r.commitTS = u.ModTime
	return fmt.Sprintf("linux-%s.tar.xz (%s), signed by %s", rel, u.How, u.Signer), nil
}
