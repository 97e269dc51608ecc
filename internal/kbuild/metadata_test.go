package kbuild

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// ELFSizes agrees with GNU size (Berkeley format) on a real ELF file.
func TestELFSizesMatchGNUSize(t *testing.T) {
	bin := "/bin/ls"
	testtool.Need(t, "size")
	out, err := exec.Command("size", bin).Output()
	if err != nil {
		t.Fatalf("size %s: %v", bin, err)
	}
	got, err := ELFSizes(bin)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var want Sizes
	fmt.Sscan(lines[1], &want.Text, &want.Data, &want.BSS)
	if got != want {
		t.Errorf("ELFSizes(%s) = %+v, GNU size says %+v", bin, got, want)
	}
}

func TestToolchainAndCcacheStats(t *testing.T) {
	out := t.TempDir()
	os.MkdirAll(filepath.Join(out, "include/generated"), 0o755)
	os.WriteFile(filepath.Join(out, "include/generated/compile.h"), []byte("#define UTS_MACHINE \"x86_64\"\n#define LINUX_COMPILER\t\t\"gcc (Debian 12.2.0-14) 12.2.0, GNU ld 2.40\"\n"), 0o644)
	tc, err := (&Tree{Out: out}).Toolchain()
	if err != nil || tc != "gcc (Debian 12.2.0-14) 12.2.0, GNU ld 2.40" {
		t.Errorf("Toolchain = %q, %v", tc, err)
	}
	if _, err := (&Tree{Out: t.TempDir()}).Toolchain(); err == nil {
		t.Error("Toolchain of an unbuilt tree gave no error")
	}
	log := filepath.Join(out, "ccache.log")
	os.WriteFile(log, []byte("# a.c\ncache_miss\ndirect_cache_miss\nlocal_storage_write\n# b.c\ndirect_cache_hit\nlocal_storage_hit\n# c.c\npreprocessed_cache_hit\n"), 0o644)
	if h, m, err := CcacheStats(log); h != 2 || m != 1 || err != nil {
		t.Errorf("CcacheStats = %d hits, %d misses, %v", h, m, err)
	}
	if h, m, err := CcacheStats(filepath.Join(out, "none.log")); h != 0 || m != 0 || err != nil {
		t.Errorf("CcacheStats of no log = %d, %d, %v", h, m, err)
	}
}
