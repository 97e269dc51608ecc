package pipeline

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"go/build"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
)

// Stages are content-addressed: each has a key, the hash of everything it reads (the files and
// settings it is given, the upstream commit, tool versions, the SHA-256 of the outputs of the
// stages before it). The executor (executor.go) skips a stage whose key and outputs are as the
// last run of the same version left them.

// key hashes the parts of a stage's input; each part is length-prefixed, so no two lists of
// parts hash alike.
func key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// inputs are what a stage reads, by name ("fragment configs/wsl.config", "compiler", "kernel"),
// each with its SHA-256 or value; the manifest records them, so status can name what changed.
type inputs map[string]string

// key is the stage's cache key: the hash of every input, in name order.
func (in inputs) key() string {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, 2*len(names))
	for _, n := range names {
		parts = append(parts, n, in[n])
	}
	return key(parts...)
}

// add copies other's inputs into in.
func (in inputs) add(other inputs) {
	for n, v := range other {
		in[n] = v
	}
}

// fileKey is the SHA-256 of a file's contents, or a part that names what is wrong, so a missing
// file never matches a key made when it was there.
func fileKey(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable " + path
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable " + path
	}
	return hex.EncodeToString(h.Sum(nil))
}

// dirKey hashes a folder's files (a Go program's package): names and contents, sorted.
func dirKey(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "unreadable " + dir
	}
	var parts []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			parts = append(parts, e.Name(), fileKey(filepath.Join(dir, e.Name())))
		}
	}
	return key(parts...)
}

// goSourcesKey hashes every Go file, go.mod and go.sum of the module holding the package in pkg:
// more than the program needs, never less, and a few milliseconds for a module this size.
func goSourcesKey(pkg string) string {
	root := pkg
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return dirKey(pkg)
		}
		root = parent
	}
	var parts []string
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		name := d.Name()
		if d.Type().IsRegular() && (name == "go.mod" || name == "go.sum" || (strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go"))) {
			rel, _ := filepath.Rel(root, path)
			parts = append(parts, rel, fileKey(path))
		}
		return nil
	})
	return key(parts...)
}

// goProgramKey hashes the Go files the program in pkg is built from for goos/goarch: its
// package's and those of every package of its module it imports, directly or not (chosen by
// go/build, with the build constraints the go command applies), and go.mod, which pins every
// other module. Unlike goSourcesKey it stays put when another package of the module changes: it
// keys what ships (the MSI's custom action), where only a change of the program is a new
// revision of the release.
func goProgramKey(pkg, goos, goarch string) string {
	dir, err := filepath.EvalSymlinks(pkg) // a pipeline folder may link to the module's cmd
	if err != nil {
		return "unreadable " + pkg
	}
	root, modPath := dir, ""
	for {
		if modPath = modulePath(filepath.Join(root, "go.mod")); modPath != "" {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			return "no go.mod above " + pkg
		}
		root = parent
	}
	ctx := build.Default
	ctx.GOOS, ctx.GOARCH, ctx.CgoEnabled = goos, goarch, false
	parts := []string{"go.mod", fileKey(filepath.Join(root, "go.mod"))}
	seen := map[string]bool{dir: true}
	for queue := []string{dir}; len(queue) > 0; queue = queue[1:] {
		p, err := ctx.ImportDir(queue[0], 0)
		if err != nil {
			return fmt.Sprintf("unreadable %s: %v", queue[0], err)
		}
		files := slices.Clone(p.GoFiles)
		for _, pattern := range p.EmbedPatterns {
			matches, _ := filepath.Glob(filepath.Join(queue[0], filepath.FromSlash(pattern)))
			for _, m := range matches {
				files = append(files, m[len(queue[0])+1:])
			}
		}
		for _, f := range files {
			path := filepath.Join(queue[0], f)
			rel, _ := filepath.Rel(root, path)
			parts = append(parts, rel, fileKey(path))
		}
		for _, imp := range p.Imports {
			if rest, ok := strings.CutPrefix(imp, modPath); ok && (rest == "" || rest[0] == '/') {
				if d := filepath.Join(root, filepath.FromSlash(rest)); !seen[d] {
					seen[d] = true
					queue = append(queue, d)
				}
			}
		}
	}
	return key(parts...)
}

// modulePath is the module path go.mod declares; empty when there is no such file.
func modulePath(gomod string) string {
	f, err := os.Open(gomod)
	if err != nil {
		return ""
	}
	defer f.Close()
	for s := bufio.NewScanner(f); s.Scan(); {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(s.Text()), "module "); ok {
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}
