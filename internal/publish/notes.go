package publish

import (
	"fmt"
	"strings"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Notes are the release notes: the upstream update, what the release is built from, the patches,
// and the artifacts with their sizes and SHA-256.
//
// Still to come (issue 7): the upstream shortlog since the previous release, the config changes
// against it, and the CVEs fixed, from the kernel CNA's records.
func Notes(m *manifest.Manifest, rel *Release) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Update to stable kernel version %s.\n\n", m.Upstream.Tag)
	fmt.Fprintf(&b, "Built from %s (commit %s", m.Upstream.Tag, short(m.Upstream.Commit))
	if m.Upstream.Signer != "" {
		fmt.Fprintf(&b, ", tag signed by %s", m.Upstream.Signer)
	}
	fmt.Fprintf(&b, "); `uname -r` is %s.\n", m.KernelRelease)
	var applied, upstreamed []manifest.Patch
	for _, p := range m.Patches {
		if p.Upstreamed != "" {
			upstreamed = append(upstreamed, p)
		} else {
			applied = append(applied, p)
		}
	}
	if len(applied) > 0 {
		fmt.Fprintf(&b, "\n### Patches (%d)\n\n", len(applied))
		for _, p := range applied {
			fmt.Fprintf(&b, "- %s (%s)\n", p.Subject, p.Author)
		}
	}
	if len(upstreamed) > 0 {
		fmt.Fprintf(&b, "\n### Upstreamed, no longer carried\n\n")
		for _, p := range upstreamed {
			fmt.Fprintf(&b, "- %s: in %s\n", p.Subject, p.Upstreamed)
		}
	}
	fmt.Fprintf(&b, "\n### Artifacts\n\n| File | Size | SHA-256 |\n|---|---:|---|\n")
	for _, a := range rel.Assets {
		if a.Name == "manifest.json" {
			continue // its hash changes as it records this very publish
		}
		fmt.Fprintf(&b, "| %s | %d | `%s` |\n", a.Name, a.Size, a.SHA256)
	}
	return b.String()
}
