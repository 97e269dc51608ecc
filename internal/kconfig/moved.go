package kconfig

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Where a symbol's code went: a symbol a newer tree no longer defines may have had its code moved
// behind another symbol (HYPERV_IOMMU's IRQ remapping, built with IRQ_REMAP from 7.2), or folded
// into what is always built (NFS_V4_1's pNFS, part of NFS_V4 from 7.2). Kconfig does not say so;
// the Makefiles beside the Kconfig files do: the older tree's name the sources the symbol built,
// and the newer tree's name what builds them now.

// Code is one source file a symbol builds, and the Makefile line that says so.
type Code struct {
	Source   string // relative to the tree: drivers/iommu/hyperv-iommu.c
	Makefile string
	Line     int
}

// makeObjects is a kbuild Makefile line that lists objects: "obj-$(CONFIG_X) += a.o b/",
// "nfsv4-y := a.o", "foo-objs := a.o" (after continuation lines are joined).
var makeObjects = regexp.MustCompile(`^\s*([A-Za-z0-9_.-]+)-(\$\(CONFIG_([A-Za-z0-9_]+)\)|y|objs)\s*[:+]?=\s*(.*)$`)

// makeLine is one logical line of a Makefile that lists objects.
type makeLine struct {
	line    int
	target  string   // obj, or the composite object the objects are part of (nfsv4)
	symbol  string   // the CONFIG symbol that switches them; "" for -y and -objs: always
	objects []string // as written: a.o, sub/
}

// maxTreeFile bounds what is read of one Makefile or C file of a tree: the kernel's largest C
// files are a few MB; a bigger one is not what the search looks for.
const maxTreeFile = 16 << 20

// openTreeFile opens a Makefile or C source of a tree for reading, at most maxTreeFile of it;
// anything but a regular file (a link to /dev/zero, a FIFO) is not read: nil.
func openTreeFile(name string) io.ReadCloser {
	f, err := os.Open(name)
	if err != nil {
		return nil
	}
	if info, err := f.Stat(); err != nil || !info.Mode().IsRegular() {
		f.Close()
		return nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, maxTreeFile), f}
}

// readMakefile reads the object lines of a kbuild Makefile; a missing file has none.
func readMakefile(name string) []makeLine {
	f := openTreeFile(name)
	if f == nil {
		return nil
	}
	defer f.Close()
	var out []makeLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		start, text := n, sc.Text()
		for strings.HasSuffix(text, "\\") && sc.Scan() {
			n++
			text = strings.TrimSuffix(text, "\\") + " " + sc.Text()
		}
		if m := makeObjects.FindStringSubmatch(stripComment(text)); m != nil {
			out = append(out, makeLine{line: start, target: m[1], symbol: m[3], objects: strings.Fields(m[4])})
		}
	}
	return out
}

// makefileOf is the kbuild file of a folder: Kbuild where there is one, else Makefile.
func makefileOf(tree, dir string) string {
	if _, err := os.Stat(filepath.Join(tree, dir, "Kbuild")); err == nil {
		return path.Join(dir, "Kbuild")
	}
	return path.Join(dir, "Makefile")
}

// CodeOf lists the C sources that sym builds in the rules' tree: the objects that the Makefile
// beside each Kconfig file defining it switches with CONFIG_sym.
func (r *Rules) CodeOf(sym string) []Code {
	s := r.Symbols[sym]
	if s == nil || r.Tree == "" {
		return nil
	}
	var out []Code
	for _, d := range s.Defs {
		dir := path.Dir(d.File)
		if !filepath.IsLocal(dir) {
			continue // a Kconfig file sourced from outside the tree
		}
		mk := makefileOf(r.Tree, dir)
		for _, ml := range readMakefile(filepath.Join(r.Tree, mk)) {
			if ml.symbol != sym {
				continue
			}
			for _, o := range ml.objects {
				src := path.Join(dir, strings.TrimSuffix(o, ".o")+".c")
				// An object outside the tree ("../../../x.o") is none of the tree's code.
				if !strings.HasSuffix(o, ".o") || !filepath.IsLocal(src) || slices.ContainsFunc(out, func(c Code) bool { return c.Source == src }) {
					continue
				}
				if _, err := os.Stat(filepath.Join(r.Tree, src)); err == nil {
					out = append(out, Code{Source: src, Makefile: mk, Line: ml.line})
				}
			}
		}
	}
	return out
}

// builder is what builds a source in a tree: the symbol, the Makefile line, and whether the
// source is always built with that symbol's object (a -y or -objs part of a composite object
// the symbol switches), not switched by it alone.
type builder struct {
	symbol   string
	makefile string
	line     int
	folded   bool
}

// builderOf finds what builds the source in tree: its folder's Makefile line listing its object,
// and for a part of a composite object, the line that builds the composite.
func builderOf(tree, source string) (builder, bool) {
	dir := path.Dir(source)
	mk := makefileOf(tree, dir)
	lines := readMakefile(filepath.Join(tree, mk))
	find := func(obj string) (makeLine, bool) {
		for _, ml := range lines {
			if slices.Contains(ml.objects, obj) {
				return ml, true
			}
		}
		return makeLine{}, false
	}
	ml, ok := find(strings.TrimSuffix(path.Base(source), ".c") + ".o")
	if !ok {
		return builder{}, false
	}
	if ml.target == "obj" && ml.symbol == "" {
		// obj-y: built whenever its folder is, which the parent folder's Makefile switches.
		parent := path.Dir(dir)
		pmk := makefileOf(tree, parent)
		for _, pl := range readMakefile(filepath.Join(tree, pmk)) {
			if pl.symbol != "" && slices.Contains(pl.objects, path.Base(dir)+"/") {
				return builder{symbol: pl.symbol, makefile: pmk, line: pl.line, folded: true}, true
			}
		}
		return builder{}, false
	}
	if ml.target == "obj" {
		return builder{symbol: ml.symbol, makefile: mk, line: ml.line}, true
	}
	if ml.symbol != "" {
		return builder{symbol: ml.symbol, makefile: mk, line: ml.line}, true
	}
	composite, ok := find(ml.target + ".o")
	if !ok || composite.symbol == "" {
		return builder{}, false
	}
	return builder{symbol: composite.symbol, makefile: mk, line: composite.line, folded: true}, true
}

// funcDef is a C function definition's first line: a name and "(" at the start of a line that
// does not end as a declaration.
var funcDef = regexp.MustCompile(`(?m)^[A-Za-z_][^;=()\n]*?\b([A-Za-z_][A-Za-z0-9_]{5,})\([^;\n]*$`)

// functionsOf lists the functions a C file defines.
func functionsOf(name string) []string {
	f := openTreeFile(name)
	if f == nil {
		return nil
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return nil
	}
	var out []string
	for _, m := range funcDef.FindAllSubmatch(data, -1) {
		if f := string(m[1]); !slices.Contains(out, f) {
			out = append(out, f)
		}
	}
	return out
}

// movedTo finds where a source of the older tree is in the newer one: the same path, else the C
// file under the same folder (or its parent, below the top folder) that defines most of its
// functions, at least half of them. shared and total count them ("" when not found).
func movedTo(older, newer, source string) (dest string, shared, total int) {
	if _, err := os.Stat(filepath.Join(newer, source)); err == nil {
		return source, 0, 0
	}
	fns := functionsOf(filepath.Join(older, source))
	if len(fns) < 2 {
		return "", 0, len(fns)
	}
	dirs := []string{path.Dir(source)}
	if parent := path.Dir(dirs[0]); strings.Contains(parent, "/") {
		dirs = append(dirs, parent)
	}
	for _, dir := range dirs {
		filepath.WalkDir(filepath.Join(newer, dir), func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() || !strings.HasSuffix(p, ".c") {
				return nil
			}
			have := functionsOf(p)
			n := 0
			for _, f := range fns {
				if slices.Contains(have, f) {
					n++
				}
			}
			if n > shared {
				rel, _ := filepath.Rel(newer, p)
				dest, shared = filepath.ToSlash(rel), n
			}
			return nil
		})
		if 2*shared >= len(fns) {
			return dest, shared, len(fns)
		}
	}
	return "", 0, len(fns)
}

// codeMoved says where sym's code went in newer, from older's Makefiles: the symbols that build
// it now on their own (candidates: the symbol moved behind them), and what builds it always as
// part of another symbol's object (lines of evidence: the symbol folded in).
func codeMoved(older, newer *Rules, sym string) (moved []Candidate, folded []string) {
	if older == nil || newer == nil || newer.Tree == "" {
		return nil, nil
	}
	for _, c := range older.CodeOf(sym) {
		dest, shared, total := movedTo(older.Tree, newer.Tree, c.Source)
		if dest == "" {
			continue
		}
		b, ok := builderOf(newer.Tree, dest)
		if !ok || b.symbol == sym {
			continue
		}
		where := dest
		if dest != c.Source {
			where = fmt.Sprintf("%s, now %s (%d of its %d functions)", c.Source, dest, shared, total)
		}
		if b.folded {
			folded = append(folded, fmt.Sprintf("its code %s (%s:%d) is always built as part of CONFIG_%s's object (%s:%d)", where, c.Makefile, c.Line, b.symbol, b.makefile, b.line))
			continue
		}
		if !slices.ContainsFunc(moved, func(m Candidate) bool { return m.Symbol == b.symbol }) {
			moved = append(moved, Candidate{Symbol: b.symbol, File: b.makefile, Line: b.line, Score: 1,
				Evidence: fmt.Sprintf("builds its code %s, which %s:%d built with CONFIG_%s", where, c.Makefile, c.Line, sym)})
		}
	}
	return moved, folded
}
