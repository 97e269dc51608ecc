package pipeline

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/kbuild"
)

// A build tree is read back the one way for explain and kbuild features; each thing missing
// from it is said as what to do.
func TestReadConfigured(t *testing.T) {
	dir := t.TempDir()
	x86, _ := kbuild.LookupArch("x86_64")
	if _, err := ReadConfigured(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("ReadConfigured(unconfigured) = %v, want fs.ErrNotExist", err)
	}
	if _, err := readExplained(dir, "smoke", x86); err == nil || !strings.Contains(err.Error(), "is not configured yet: run kbuild run --profile smoke first") {
		t.Errorf("readExplained(unconfigured) = %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".config"), []byte("CONFIG_NET=y\n"), 0o644)
	c, err := ReadConfigured(dir)
	if err != nil || c.Final.Value("NET") != "y" || c.Dotconfig != filepath.Join(dir, ".config") {
		t.Fatalf("ReadConfigured() = %+v, %v; want the .config holding NET=y", c, err)
	}
	if _, err := readExplained(dir, "smoke", x86); err == nil || !strings.Contains(err.Error(), "kept no .config.base") {
		t.Errorf("readExplained(no .config.base) = %v", err)
	}
	os.WriteFile(filepath.Join(dir, ".config.base"), []byte("CONFIG_NET=n\n"), 0o644)
	if _, err := readExplained(dir, "smoke", x86); err == nil || !strings.Contains(err.Error(), "the build tree has no source link") {
		t.Errorf("readExplained(no source link) = %v", err)
	}
	src := t.TempDir()
	os.Symlink(src, filepath.Join(dir, "source"))
	if got, err := c.Source(); err != nil || got != src {
		t.Errorf("Source() = %q, %v; want %q", got, err, src)
	}
}
