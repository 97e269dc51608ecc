package moddisk

import (
	"bytes"
	"context"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// The same program compiled in two work dirs, as objtool is (with -g, from an absolute path),
// differs in its bytes; stripped, the two are byte-identical and still run. Files that are no
// program (an object file, a header, a script) are left as they were.
func TestStripProgramsLeavesNoBuildPath(t *testing.T) {
	tools := testtool.Need(t, "gcc", "strip")
	var progs [2]string
	var trees [2]string
	for i := range progs {
		trees[i] = t.TempDir()
		src := filepath.Join(trees[i], "tools/objtool/objtool.c")
		os.MkdirAll(filepath.Dir(src), 0o755)
		os.WriteFile(src, []byte("#include <stdio.h>\nstatic int checked(void) { return 42; }\nint main(void) { printf(\"objtool %d\\n\", checked()); return 0; }\n"), 0o644)
		progs[i] = filepath.Join(trees[i], "tools/objtool/objtool")
		if out, err := exec.Command(tools[0], "-g", "-O2", "-o", progs[i], src).CombinedOutput(); err != nil {
			t.Fatalf("gcc: %v\n%s", err, out)
		}
		obj := filepath.Join(trees[i], "scripts/mod/empty.o")
		os.MkdirAll(filepath.Dir(obj), 0o755)
		if out, err := exec.Command(tools[0], "-c", "-o", obj, src).CombinedOutput(); err != nil {
			t.Fatalf("gcc -c: %v\n%s", err, out)
		}
		os.WriteFile(filepath.Join(trees[i], "Makefile"), []byte("VERSION = 6\n"), 0o644)
	}
	if bytes.Equal(readFile(t, progs[0]), readFile(t, progs[1])) {
		t.Fatal("the two builds are already identical: the test shows nothing")
	}
	host := func(elf.Machine) string { return tools[1] } // gcc made programs for this machine
	for _, tree := range trees {
		objBefore := readFile(t, filepath.Join(tree, "scripts/mod/empty.o"))
		got, err := StripPrograms(context.Background(), runner.Exec{}, tree, host)
		if err != nil || strings.Join(got, ",") != "tools/objtool/objtool" {
			t.Fatalf("StripPrograms = %v, %v; want tools/objtool/objtool alone", got, err)
		}
		if !bytes.Equal(objBefore, readFile(t, filepath.Join(tree, "scripts/mod/empty.o"))) {
			t.Error("the object file was changed")
		}
	}
	if !bytes.Equal(readFile(t, progs[0]), readFile(t, progs[1])) {
		t.Error("stripped, the two builds still differ")
	}
	if out, err := exec.Command(progs[1]).Output(); err != nil || string(out) != "objtool 42\n" {
		t.Errorf("the stripped program says %q, %v", out, err)
	}
	none := func(elf.Machine) string { return "" }
	if _, err := StripPrograms(context.Background(), runner.Exec{}, trees[0], none); err == nil || !strings.Contains(err.Error(), "tools/objtool/objtool is a program for EM_") {
		t.Errorf("StripPrograms without a strip = %v", err)
	}
}
