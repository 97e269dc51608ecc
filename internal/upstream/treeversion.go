//lint:file-ignore ST1005 errors here start with the file they are about, Makefile, as make names it (Makefile:12: ...)

package upstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/wslkernel/wslkernel/internal/version"
)

// ErrWrongTree is wrapped when a tree's top Makefile names another release than the tag or
// tarball it came as: a signature vouches for the bytes it covers, and only the Makefile says
// which release those bytes are.
var ErrWrongTree = errors.New("the tree is not the release it came as")

// maxMakefile bounds the top Makefile read to find the release (the kernel's is about 70 KB).
const maxMakefile = 1 << 20

// makefileName begins the errors about it: the file is named so, and an error string must not
// begin with a capital (staticcheck ST1005), so the name comes in as an argument.
const makefileName = "Makefile"

// versionVars are the top Makefile's variables that make the release, in order.
var versionVars = [...]string{"VERSION", "PATCHLEVEL", "SUBLEVEL", "EXTRAVERSION"}

// MakefileRelease reads the release a kernel tree's top Makefile gives: VERSION, PATCHLEVEL and
// SUBLEVEL each assigned exactly once with a plain "=", as every kernel release has them, and no
// EXTRAVERSION (a release candidate or a distribution's suffix is not a stable release). A
// second assignment, another operator or an override is refused rather than guessed at: make
// would take the last one, a reader taking the first would be fooled.
func MakefileRelease(makefile []byte) (version.Release, error) {
	rel, _, err := makefileRelease(makefile, false)
	return rel, err
}

// makefileRelease is MakefileRelease; with anyExtra, an EXTRAVERSION is taken and returned.
func makefileRelease(makefile []byte, anyExtra bool) (version.Release, string, error) {
	if len(makefile) > maxMakefile {
		return version.Release{}, "", fmt.Errorf("the Makefile is %d bytes, more than any kernel's top Makefile (at most %d)", len(makefile), maxMakefile)
	}
	values := map[string]string{}
	where := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(makefile))
	sc.Buffer(make([]byte, 0, 64*1024), maxMakefile)
	for line := 1; sc.Scan(); line++ {
		name, op, value, prefixed := assignment(sc.Text())
		if name == "" {
			continue
		}
		switch {
		case where[name] != 0:
			return version.Release{}, "", fmt.Errorf("%s:%d: %s is assigned again (first at line %d): make would take the last, so the release is ambiguous", makefileName, line, name, where[name])
		case op != "=" || prefixed:
			return version.Release{}, "", fmt.Errorf("%s:%d: %s is set with %q: a kernel release's Makefile sets it with a plain \"=\"", makefileName, line, name, strings.TrimSpace(sc.Text()))
		}
		values[name], where[name] = value, line
	}
	if err := sc.Err(); err != nil {
		return version.Release{}, "", fmt.Errorf("%s: %w", makefileName, err)
	}
	for _, name := range versionVars[:3] {
		if where[name] == 0 {
			return version.Release{}, "", fmt.Errorf("%s: %s is not set: not a kernel tree's top Makefile", makefileName, name)
		}
	}
	extra := values["EXTRAVERSION"]
	if extra != "" && !anyExtra {
		return version.Release{}, "", fmt.Errorf("%s:%d: EXTRAVERSION = %s: a stable release has none", makefileName, where["EXTRAVERSION"], extra)
	}
	rel, err := version.ParseRelease(values["VERSION"] + "." + values["PATCHLEVEL"] + "." + values["SUBLEVEL"])
	if err != nil {
		return version.Release{}, "", fmt.Errorf("%s:%d: %w", makefileName, where["VERSION"], err)
	}
	return rel, extra, nil
}

// TreeRelease reads the release of a kernel tree on disk from its top Makefile (a regular file)
// as MakefileRelease does, except that an EXTRAVERSION (a release candidate's -rc3, a
// distribution's suffix) is returned rather than refused: it is for knowing the series of a tree
// someone points at, not for vouching that a tree is a stable release.
func TreeRelease(dir string) (rel version.Release, extra string, err error) {
	name := filepath.Join(dir, "Makefile")
	fi, err := os.Lstat(name)
	if err != nil {
		return version.Release{}, "", err
	}
	if !fi.Mode().IsRegular() {
		return version.Release{}, "", fmt.Errorf("%s: not a regular file (%s)", name, fi.Mode().Type())
	}
	f, err := os.Open(name)
	if err != nil {
		return version.Release{}, "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMakefile+1))
	if err != nil {
		return version.Release{}, "", err
	}
	rel, extra, err = makefileRelease(data, true)
	if err != nil {
		return version.Release{}, "", fmt.Errorf("%s: %w", dir, err)
	}
	return rel, extra, nil
}

// assignment parses a make assignment to one of versionVars: the name, its operator, the value,
// and whether "override" or "export" stood before it. Other lines give an empty name.
func assignment(line string) (name, op, value string, prefixed bool) {
	s := strings.TrimLeft(line, " \t")
	for _, kw := range []string{"override", "export"} {
		if rest, ok := strings.CutPrefix(s, kw); ok && rest != "" && (rest[0] == ' ' || rest[0] == '\t') {
			s, prefixed = strings.TrimLeft(rest, " \t"), true
		}
	}
	for _, v := range versionVars {
		rest, ok := strings.CutPrefix(s, v)
		if !ok {
			continue
		}
		rest = strings.TrimLeft(rest, " \t")
		for _, o := range []string{"::=", ":::=", ":=", "?=", "+=", "!=", "="} {
			if val, ok := strings.CutPrefix(rest, o); ok {
				return v, o, strings.TrimSpace(val), prefixed
			}
		}
	}
	return "", "", "", false
}

// checkRelease refuses a tree whose Makefile says another release than want; from says where
// the tree came from, for the message.
func checkRelease(makefile []byte, want version.Release, from string) error {
	got, err := MakefileRelease(makefile)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrWrongTree, from, err)
	}
	if got.Compare(want) != 0 {
		return fmt.Errorf("%w: %s holds Linux %s (its Makefile's VERSION, PATCHLEVEL and SUBLEVEL), not %s", ErrWrongTree, from, got.Full(), want.Full())
	}
	return nil
}

// CheckCommitRelease refuses a commit whose tree's Makefile is not release want's.
func CheckCommitRelease(c *object.Commit, want version.Release, from string) error {
	f, err := c.File("Makefile")
	if err != nil {
		return fmt.Errorf("%w: %s has no top Makefile: %v", ErrWrongTree, from, err)
	}
	if f.Size > maxMakefile {
		return fmt.Errorf("%w: %s: its top Makefile is %d bytes, more than any kernel's (at most %d)", ErrWrongTree, from, f.Size, maxMakefile)
	}
	r, err := f.Reader()
	if err != nil {
		return err
	}
	return checkReleaseFrom(r, want, from)
}

// CheckTreeRelease refuses a tree on disk whose Makefile is not release want's. The Makefile must
// be a regular file: a symlink could make the tree say anything.
func CheckTreeRelease(dir string, want version.Release, from string) error {
	name := filepath.Join(dir, "Makefile")
	fi, err := os.Lstat(name)
	if err != nil {
		return fmt.Errorf("%w: %s has no top Makefile: %v", ErrWrongTree, from, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: %s: its top Makefile is not a regular file (%s)", ErrWrongTree, from, fi.Mode().Type())
	}
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	return checkReleaseFrom(f, want, from)
}

// checkReleaseFrom is checkRelease of a Makefile read from r (closed after), at most one byte
// more than any kernel's so that a larger one is refused as such.
func checkReleaseFrom(r io.ReadCloser, want version.Release, from string) error {
	defer r.Close()
	data, err := io.ReadAll(io.LimitReader(r, maxMakefile+1))
	if err != nil {
		return err
	}
	return checkRelease(data, want, from)
}
