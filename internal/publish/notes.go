package publish

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/cve"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// NotesInput is what the notes compare: the release and, when known, the previous one.
type NotesInput struct {
	Manifest *manifest.Manifest
	Dir      string // the run's output folder
	Previous *manifest.Manifest
	PrevDir  string
	Shortlog string       // upstream's shortlog between the two releases' tags ("" if unknown)
	CVEs     []cve.Record // the kernel CNA's records; nil: no CVE section
}

// Notes are the release notes, in Microsoft's shape but with what users ask for: the upstream
// update and its shortlog, the config changes, the patches added, dropped and upstreamed, the
// CVEs fixed, and the artifacts with sizes and SHA-256.
func Notes(in NotesInput, rel *Release) string {
	m, prev := in.Manifest, in.Previous
	var b strings.Builder
	fmt.Fprintf(&b, "Update to stable kernel version %s.\n\n", m.Upstream.Tag)
	fmt.Fprintf(&b, "Built from %s (commit %s", m.Upstream.Tag, short(m.Upstream.Commit))
	if m.Upstream.Signer != "" {
		fmt.Fprintf(&b, ", tag signed by %s", m.Upstream.Signer)
	}
	fmt.Fprintf(&b, "); `uname -r` is %s.", m.KernelRelease)
	if prev != nil {
		fmt.Fprintf(&b, " Previous release: %s (%s).", prev.Version, prev.Upstream.Tag)
	}
	b.WriteString("\n")

	if in.Shortlog != "" {
		fmt.Fprintf(&b, "\n### Upstream changes since %s\n\n```\n%s```\n", prev.Upstream.Tag, in.Shortlog)
	}
	if prev != nil && in.CVEs != nil {
		from, to := strings.TrimPrefix(prev.Upstream.Tag, "v"), strings.TrimPrefix(m.Upstream.Tag, "v")
		fixed := cve.Fixed(in.CVEs, from, to)
		fmt.Fprintf(&b, "\n### CVEs fixed (%d)\n\n", len(fixed))
		if len(fixed) == 0 {
			fmt.Fprintf(&b, "None of the kernel CNA's records affects %s and not %s.\n", from, to)
		}
		for _, r := range fixed {
			fmt.Fprintf(&b, "- [%s](https://www.cve.org/CVERecord?id=%s): %s\n", r.ID, r.ID, r.Title)
		}
	}
	if prev != nil {
		configChanges(&b, in)
		patchChanges(&b, m, prev)
	} else {
		var applied []string
		for _, p := range m.Patches {
			if p.Upstreamed == "" {
				applied = append(applied, fmt.Sprintf("- %s (%s)", p.Subject, p.Author))
			}
		}
		if len(applied) > 0 {
			fmt.Fprintf(&b, "\n### Patches (%d)\n\n%s\n", len(applied), strings.Join(applied, "\n"))
		}
	}
	fmt.Fprintf(&b, "\n### Artifacts\n\n| File | Size | SHA-256 |\n|---|---:|---|\n")
	for _, a := range rel.Assets {
		if a.Name == "manifest.json" {
			continue // attached, but its hash is the file's own business
		}
		fmt.Fprintf(&b, "| %s | %d | `%s` |\n", a.Name, a.Size, a.SHA256)
	}
	return b.String()
}

// configChanges adds each arch's config diff against the previous release, diffconfig style.
func configChanges(b *strings.Builder, in NotesInput) {
	var sections []string
	for _, out := range in.Manifest.Outputs {
		if out.Name != "config" {
			continue
		}
		for _, old := range in.Previous.Outputs {
			if old.Name != "config" || old.Arch != out.Arch {
				continue
			}
			if old.SHA256 == out.SHA256 {
				sections = append(sections, fmt.Sprintf("%s: unchanged\n", out.Arch))
				continue
			}
			a, err1 := kconfig.ParseFile(filepath.Join(in.PrevDir, old.Path))
			c, err2 := kconfig.ParseFile(filepath.Join(in.Dir, out.Path))
			if err := errors.Join(err1, err2); err != nil {
				sections = append(sections, fmt.Sprintf("%s: (cannot compare: %v)\n", out.Arch, err))
				continue
			}
			diff := kconfig.Diff(a, c)
			if len(diff) == 0 {
				sections = append(sections, fmt.Sprintf("%s: no setting changed\n", out.Arch))
				continue
			}
			sections = append(sections, fmt.Sprintf("%s:\n```\n%s\n```\n", out.Arch, strings.Join(diff, "\n")))
		}
	}
	if len(sections) > 0 {
		fmt.Fprintf(b, "\n### Config changes\n\n%s", strings.Join(sections, "\n"))
	}
}

// patchChanges adds the patches added and dropped since the previous release, and those now
// upstream.
func patchChanges(b *strings.Builder, m, prev *manifest.Manifest) {
	carried := func(mm *manifest.Manifest) map[string]manifest.Patch {
		out := map[string]manifest.Patch{}
		for _, p := range mm.Patches {
			if p.Upstreamed == "" {
				out[p.Subject] = p
			}
		}
		return out
	}
	now, before := carried(m), carried(prev)
	var added, dropped, upstreamed []string
	for s, p := range now {
		if _, ok := before[s]; !ok {
			added = append(added, fmt.Sprintf("- %s (%s)", s, p.Author))
		}
	}
	for _, p := range m.Patches {
		if p.Upstreamed != "" {
			upstreamed = append(upstreamed, fmt.Sprintf("- %s: upstream in %s", p.Subject, p.Upstreamed))
		}
	}
	for s := range before {
		if _, ok := now[s]; !ok && !strings.Contains(strings.Join(upstreamed, "\n"), s) {
			dropped = append(dropped, "- "+s)
		}
	}
	sort.Strings(added)
	sort.Strings(dropped)
	fmt.Fprintf(b, "\n### Patches\n\n%d carried", len(now))
	if len(added)+len(dropped)+len(upstreamed) == 0 {
		b.WriteString(", the same as the previous release.\n")
		return
	}
	b.WriteString(".\n")
	for _, sec := range []struct {
		title string
		items []string
	}{{"Added", added}, {"Dropped", dropped}, {"Upstreamed (no longer carried)", upstreamed}} {
		if len(sec.items) > 0 {
			fmt.Fprintf(b, "\n%s:\n%s\n", sec.title, strings.Join(sec.items, "\n"))
		}
	}
}

// Shortlog is git shortlog of from..to in repo: commits grouped by author, in order, each
// author's count; "" when from is not an ancestor the repository holds.
func Shortlog(repo *git.Repository, from, to string) (string, error) {
	iter, err := repo.Log(&git.LogOptions{From: plumbing.NewHash(to)})
	if err != nil {
		return "", err
	}
	stop := plumbing.NewHash(from)
	byAuthor := map[string][]string{}
	var authors []string
	found := false
	err = iter.ForEach(func(c *object.Commit) error {
		if c.Hash == stop {
			found = true
			return errStop
		}
		a := c.Author.Name
		if _, ok := byAuthor[a]; !ok {
			authors = append(authors, a)
		}
		subject, _, _ := strings.Cut(c.Message, "\n")
		byAuthor[a] = append(byAuthor[a], subject)
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		if errors.Is(err, plumbing.ErrObjectNotFound) {
			return "", nil // the mirror is shallow below here
		}
		return "", err
	}
	if !found {
		return "", nil
	}
	sort.Strings(authors)
	var b strings.Builder
	for _, a := range authors {
		subjects := byAuthor[a]
		fmt.Fprintf(&b, "%s (%d):\n", a, len(subjects))
		for i := len(subjects) - 1; i >= 0; i-- { // oldest first, as git shortlog
			fmt.Fprintf(&b, "      %s\n", subjects[i])
		}
		b.WriteString("\n")
	}
	return b.String(), nil
}

var errStop = errors.New("stop")
