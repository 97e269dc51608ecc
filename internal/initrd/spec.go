// Package initrd describes an initramfs in the kernel's gen_init_cpio spec format and writes it as
// a deterministic newc cpio archive, optionally gzip-compressed.
package initrd

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strconv"
	"strings"

	"github.com/wslkernel/wslkernel/internal/lines"
)

// Kind is an entry type of the spec format.
type Kind string

// The kinds of usr/gen_init_cpio.
const (
	File    Kind = "file"
	Dir     Kind = "dir"
	Node    Kind = "nod"
	Symlink Kind = "slink"
	Pipe    Kind = "pipe"
	Socket  Kind = "sock"
)

// Entry is one line of a spec.
type Entry struct {
	Kind     Kind
	Name     string // absolute, clean path inside the archive
	Source   string // file: the host file to copy
	Target   string // slink: where the link points
	Mode     fs.FileMode
	UID, GID int
	DevType  byte // nod: 'c' or 'b'
	Major    int
	Minor    int
	Line     int // where the entry stood in the spec, for errors
}

// fields each kind takes after its keyword, as in gen_init_cpio's usage text.
var arity = map[Kind]int{File: 5, Dir: 4, Node: 7, Symlink: 5, Pipe: 4, Socket: 4}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// ParseSpec reads a gen_init_cpio spec. ${NAME} in a file's source is replaced from vars (for
// programs the pipeline builds) and then from the environment, as gen_init_cpio does. Every
// problem names the spec file and line.
func ParseSpec(r io.Reader, specName string, vars map[string]string) ([]Entry, error) {
	var entries []Entry
	seen := map[string]int{}
	err := lines.Each(r, specName, lines.WholeLine, func(n int, line string) error {
		e, err := parseLine(line, vars)
		if err != nil {
			return fmt.Errorf("%s:%d: %w", specName, n, err)
		}
		e.Line = n
		if first, dup := seen[e.Name]; dup {
			return fmt.Errorf("%s:%d: %s is already defined on line %d", specName, n, e.Name, first)
		}
		seen[e.Name] = n
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	kinds := make(map[string]Kind, len(entries))
	for _, e := range entries {
		kinds[e.Name] = e.Kind
	}
	for _, e := range entries {
		if parent := path.Dir(e.Name); parent != "/" && kinds[parent] != Dir {
			return nil, fmt.Errorf("%s:%d: %s: its folder %s is not a dir in the spec (add: dir %s 0755 0 0)", specName, e.Line, e.Name, parent, parent)
		}
	}
	return entries, nil
}

func parseLine(line string, vars map[string]string) (Entry, error) {
	f := strings.Fields(line)
	kind := Kind(f[0])
	want, ok := arity[kind]
	if !ok {
		return Entry{}, fmt.Errorf("unknown entry type %q (expected file, dir, nod, slink, pipe or sock)", f[0])
	}
	args := f[1:]
	if kind == File && len(args) > want {
		return Entry{}, fmt.Errorf("file %s: hard links are not supported", args[0])
	}
	if len(args) != want {
		return Entry{}, fmt.Errorf("%s takes %d fields, got %d", kind, want, len(args))
	}
	e := Entry{Kind: kind}
	name, err := cleanName(args[0])
	if err != nil {
		return Entry{}, err
	}
	e.Name = name
	rest := args[1:]
	switch kind {
	case File:
		src, err := expand(rest[0], vars)
		if err != nil {
			return Entry{}, fmt.Errorf("file %s: %w", name, err)
		}
		info, err := os.Stat(src)
		if err != nil {
			return Entry{}, fmt.Errorf("file %s: source %s does not exist", name, src)
		}
		if !info.Mode().IsRegular() {
			return Entry{}, fmt.Errorf("file %s: source %s is not a regular file", name, src)
		}
		e.Source, rest = src, rest[1:]
	case Symlink:
		e.Target, rest = rest[0], rest[1:]
	}
	if e.Mode, err = parseMode(rest[0]); err != nil {
		return Entry{}, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if e.UID, err = parseID("uid", rest[1]); err != nil {
		return Entry{}, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if e.GID, err = parseID("gid", rest[2]); err != nil {
		return Entry{}, fmt.Errorf("%s %s: %w", kind, name, err)
	}
	if kind == Node {
		if rest[3] != "c" && rest[3] != "b" {
			return Entry{}, fmt.Errorf("nod %s: device type %q must be c or b", name, rest[3])
		}
		e.DevType = rest[3][0]
		if e.Major, err = parseID("major", rest[4]); err != nil {
			return Entry{}, fmt.Errorf("nod %s: %w", name, err)
		}
		if e.Minor, err = parseID("minor", rest[5]); err != nil {
			return Entry{}, fmt.Errorf("nod %s: %w", name, err)
		}
	}
	return e, nil
}

// cleanName requires an absolute path that stays inside the archive.
func cleanName(name string) (string, error) {
	if !strings.HasPrefix(name, "/") {
		return "", fmt.Errorf("%s: names must be absolute (start with /)", name)
	}
	for _, part := range strings.Split(name[1:], "/") {
		if part == ".." {
			return "", fmt.Errorf("%s: escapes the archive root", name)
		}
	}
	clean := path.Clean(name)
	if clean == "/" {
		return "", fmt.Errorf("%s: the archive root itself cannot be an entry", name)
	}
	return clean, nil
}

func expand(s string, vars map[string]string) (string, error) {
	var missing string
	out := envRef.ReplaceAllStringFunc(s, func(ref string) string {
		name := envRef.FindStringSubmatch(ref)[1]
		if v, ok := vars[name]; ok {
			return v
		}
		if v, ok := os.LookupEnv(name); ok {
			return v
		}
		missing = name
		return ref
	})
	if missing != "" {
		return "", fmt.Errorf("${%s} is neither a program of the profile nor set in the environment", missing)
	}
	return out, nil
}

func parseMode(s string) (fs.FileMode, error) {
	m, err := strconv.ParseUint(s, 8, 32)
	if err != nil || m > 0o7777 {
		return 0, fmt.Errorf("mode %q is not an octal permission such as 0755", s)
	}
	return fs.FileMode(m), nil
}

func parseID(what, s string) (int, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil {
		return 0, fmt.Errorf("%s %q is not a number", what, s)
	}
	return int(n), nil
}
