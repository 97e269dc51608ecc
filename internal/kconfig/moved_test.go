package kconfig

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// writeTree writes files (name: text) under dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A Makefile of the tree the port reads names what CodeOf looks at: an object outside the tree
// ("../../../secret.o") is none of the symbol's code, and is neither listed nor read.
func TestCodeOfStaysInTheTree(t *testing.T) {
	root := t.TempDir()
	tree := filepath.Join(root, "linux")
	writeTree(t, root, map[string]string{
		"secret.c":                   "int secret_one(void)\n{\n}\nint secret_two(void)\n{\n}\n",
		"linux/Kconfig":              "source \"drivers/foo/Kconfig\"\n",
		"linux/drivers/foo/Kconfig":  "config FOO\n\tbool \"foo\"\n",
		"linux/drivers/foo/Makefile": "obj-$(CONFIG_FOO) += foo.o ../../../secret.o\n",
		"linux/drivers/foo/foo.c":    "int foo_probe(void)\n{\n}\n",
	})
	r, err := LoadRules(tree, "x86")
	if err != nil {
		t.Fatal(err)
	}
	got := r.CodeOf("FOO")
	if len(got) != 1 || got[0].Source != "drivers/foo/foo.c" {
		t.Errorf("CodeOf(FOO) = %+v, want drivers/foo/foo.c alone", got)
	}
}

// A source that is not a regular file (a link to /dev/zero, a FIFO) is not read: the port's
// search would never end on it.
func TestFunctionsOfReadsRegularFilesOnly(t *testing.T) {
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.c")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	done := make(chan []string, 1)
	go func() { done <- functionsOf(zero) }()
	select {
	case got := <-done:
		if got != nil {
			t.Errorf("functionsOf(a link to /dev/zero) = %q, want nothing", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("functionsOf(a link to /dev/zero) still reading after 10s")
	}
}

// A transitional name no default reads carries its value nowhere: it is as good as gone, never
// "renamed" to nothing (the port's report takes a Renamed fate's first candidate).
func TestFateOfATransitionalNameNothingReads(t *testing.T) {
	tree := t.TempDir()
	writeTree(t, tree, map[string]string{"Kconfig": "config NEW\n\tbool \"new\"\nconfig OLD\n\tbool\n\ttransitional\n"})
	r, err := LoadRules(tree, "x86")
	if err != nil {
		t.Fatal(err)
	}
	f := r.FateOf(nil, "OLD", "y", &Config{})
	if (f.Kind == Renamed || f.Kind == Moved) && len(f.Candidates) == 0 {
		t.Errorf("FateOf(OLD) = %s with no candidate", f.Kind)
	}
	if f.Kind != Gone {
		t.Errorf("FateOf(OLD) = %s, want %s", f.Kind, Gone)
	}
}
