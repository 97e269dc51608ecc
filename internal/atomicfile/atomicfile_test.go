package atomicfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestCommitAndAbort(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "sub", "out")
	if err := WriteFile(dest, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	f, err := Create(dest, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("half")
	if got, _ := os.ReadFile(dest); string(got) != "one" {
		t.Errorf("while a new version is written, dest = %q, want the old one", got)
	}
	f.Abort()
	if got, _ := os.ReadFile(dest); string(got) != "one" {
		t.Errorf("after Abort, dest = %q", got)
	}
	if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 1 {
		t.Errorf("Abort left %v", left)
	}
	info, _ := os.Stat(dest)
	if info.Mode().Perm() != 0o640 {
		t.Errorf("mode %v, want 0640", info.Mode())
	}
}
