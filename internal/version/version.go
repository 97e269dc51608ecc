// Package version holds kernel release numbers, the series a release line follows, and our
// "<x.y.z>.<rev>" version scheme with its branch and tag templates.
package version

import (
	"cmp"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// ErrSyntax is wrapped by every parse error, for callers that branch on bad input.
var ErrSyntax = errors.New("malformed version")

// Release is an upstream kernel release such as 6.12.118. A mainline release "6.12" has Patch 0.
type Release struct {
	Major, Minor, Patch int
}

// Series is a stable branch such as 6.12: the releases sharing Major and Minor.
type Series struct {
	Major, Minor int
}

// ParseRelease parses "X.Y" or "X.Y.Z" (an optional leading "v" is accepted, as in tags).
func ParseRelease(s string) (Release, error) {
	parts, err := numbers(strings.TrimPrefix(s, "v"), 2, 3)
	if err != nil {
		return Release{}, fmt.Errorf("release %q: %w", s, err)
	}
	r := Release{Major: parts[0], Minor: parts[1]}
	if len(parts) == 3 {
		r.Patch = parts[2]
	}
	return r, nil
}

// ParseSeries parses "X.Y".
func ParseSeries(s string) (Series, error) {
	parts, err := numbers(s, 2, 2)
	if err != nil {
		return Series{}, fmt.Errorf("series %q: %w (want X.Y, such as 6.12)", s, err)
	}
	return Series{Major: parts[0], Minor: parts[1]}, nil
}

// numbers splits a dotted string into between min and max decimal numbers, rejecting signs,
// leading zeros, empty fields and anything that is not a digit.
func numbers(s string, min, max int) ([]int, error) {
	fields := strings.Split(s, ".")
	if len(fields) < min || len(fields) > max {
		return nil, fmt.Errorf("%w: want %d to %d dot-separated numbers", ErrSyntax, min, max)
	}
	out := make([]int, len(fields))
	for i, f := range fields {
		if f == "" || len(f) > 6 || (len(f) > 1 && f[0] == '0') || strings.Trim(f, "0123456789") != "" {
			return nil, fmt.Errorf("%w: %q is not a number", ErrSyntax, f)
		}
		n, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrSyntax, err)
		}
		out[i] = n
	}
	return out, nil
}

func (r Release) String() string {
	if r.Patch == 0 {
		return fmt.Sprintf("%d.%d", r.Major, r.Minor)
	}
	return fmt.Sprintf("%d.%d.%d", r.Major, r.Minor, r.Patch)
}

// Full is always three numbers (6.12.0), as the version scheme needs.
func (r Release) Full() string { return fmt.Sprintf("%d.%d.%d", r.Major, r.Minor, r.Patch) }

// Tag is the upstream git tag of the release ("v6.12.118"; "v6.12" for a mainline release).
func (r Release) Tag() string { return "v" + r.String() }

// Series is the stable branch the release belongs to.
func (r Release) Series() Series { return Series{r.Major, r.Minor} }

// Compare orders releases numerically (6.12.118 > 6.12.99): -1, 0 or +1.
func (r Release) Compare(o Release) int {
	for _, d := range [...]int{r.Major - o.Major, r.Minor - o.Minor, r.Patch - o.Patch} {
		if d != 0 {
			if d < 0 {
				return -1
			}
			return 1
		}
	}
	return 0
}

func (s Series) String() string { return fmt.Sprintf("%d.%d", s.Major, s.Minor) }

// Compare orders series numerically (6.12 > 6.6, 7.0 > 6.19): -1, 0 or +1.
func (s Series) Compare(o Series) int {
	if c := cmp.Compare(s.Major, o.Major); c != 0 {
		return c
	}
	return cmp.Compare(s.Minor, o.Minor)
}

// Contains reports whether r is a release of the series.
func (s Series) Contains(r Release) bool { return r.Major == s.Major && r.Minor == s.Minor }

// Version is ours: the upstream release plus a revision counting WSL-only rebuilds of it.
type Version struct {
	Upstream Release
	Rev      int
}

// ParseVersion parses the "<x.y.z>.<rev>" form String writes, e.g. 6.12.118.1.
func ParseVersion(s string) (Version, error) {
	n, err := numbers(s, 4, 4)
	if err != nil {
		return Version{}, fmt.Errorf("version %q: %w (want x.y.z.rev, such as 6.12.118.1)", s, err)
	}
	return Version{Upstream: Release{Major: n[0], Minor: n[1], Patch: n[2]}, Rev: n[3]}, nil
}

// Compare orders versions by upstream release, then revision: -1, 0 or +1.
func (v Version) Compare(o Version) int {
	if c := v.Upstream.Compare(o.Upstream); c != 0 {
		return c
	}
	return cmp.Compare(v.Rev, o.Rev)
}

// String is the "<x.y.z>.<rev>" form, e.g. 6.12.118.1.
func (v Version) String() string { return fmt.Sprintf("%s.%d", v.Upstream.Full(), v.Rev) }

// ExtraVersion is what goes into the kernel Makefile's EXTRAVERSION so that the kernel release
// reads "<x.y.z>.<rev>" (SUBLEVEL already gives z).
func (v Version) ExtraVersion() string { return fmt.Sprintf(".%d", v.Rev) }

// KernelRelease is what `uname -r` prints for this version and local version suffix.
func (v Version) KernelRelease(localVersion string) string { return v.String() + localVersion }

// Placeholders are the names a branch or tag template may use.
var Placeholders = []string{"series", "version", "upstream"}

// Expand fills a template such as "linux-msft-wsl-{version}". Unknown placeholders are an error,
// so a typo cannot silently produce a tag nobody meant.
func Expand(template string, v Version) (string, error) {
	values := map[string]string{
		"series":   v.Upstream.Series().String(),
		"version":  v.String(),
		"upstream": v.Upstream.Full(),
	}
	var b strings.Builder
	rest := template
	for {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			if strings.IndexByte(rest, '}') >= 0 {
				return "", fmt.Errorf("template %q: unmatched '}'", template)
			}
			b.WriteString(rest)
			return b.String(), nil
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return "", fmt.Errorf("template %q: unmatched '{'", template)
		}
		name := rest[open+1 : open+end]
		val, ok := values[name]
		if !ok {
			return "", fmt.Errorf("template %q: unknown placeholder {%s} (known: {%s})",
				template, name, strings.Join(Placeholders, "}, {"))
		}
		b.WriteString(rest[:open])
		b.WriteString(val)
		rest = rest[open+end+1:]
	}
}

// Track is what a release line follows: a stable series ("6.12"), or whatever kernel.org's
// releases.json currently calls "longterm" or "stable".
type Track struct {
	Series  Series
	Moniker string // "longterm" or "stable"; empty when following a series
}

// Monikers a line may follow instead of a series.
var Monikers = []string{"longterm", "stable"}

// ParseTrack parses "X.Y" or a moniker.
func ParseTrack(s string) (Track, error) {
	for _, m := range Monikers {
		if s == m {
			return Track{Moniker: m}, nil
		}
	}
	series, err := ParseSeries(s)
	if err != nil {
		return Track{}, fmt.Errorf("%w, or one of: %s", err, strings.Join(Monikers, ", "))
	}
	return Track{Series: series}, nil
}

func (t Track) String() string {
	if t.Moniker != "" {
		return t.Moniker
	}
	return t.Series.String()
}
