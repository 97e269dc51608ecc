package kbuild

import (
	"bufio"
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Sizes are a vmlinux's sections summed as GNU size's Berkeley format sums them: text is every
// allocated read-only or executable section, data the allocated writable ones, bss the
// allocated ones without contents.
type Sizes struct {
	Text, Data, BSS uint64
}

// ELFSizes reads the section sizes of an ELF file.
func ELFSizes(path string) (Sizes, error) {
	f, err := elf.Open(path)
	if err != nil {
		return Sizes{}, err
	}
	defer f.Close()
	var s Sizes
	for _, sec := range f.Sections {
		if sec.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		switch {
		case sec.Type == elf.SHT_NOBITS:
			s.BSS += sec.Size
		case sec.Flags&elf.SHF_WRITE != 0:
			s.Data += sec.Size
		default:
			s.Text += sec.Size
		}
	}
	return s, nil
}

var linuxCompiler = regexp.MustCompile(`#define\s+LINUX_COMPILER\s+"(.*)"`)

// Toolchain is the compiler and linker the tree was built with, as the kernel records them in
// include/generated/compile.h (and /proc/version).
func (t *Tree) Toolchain() (string, error) {
	data, err := os.ReadFile(filepath.Join(t.Out, "include/generated/compile.h"))
	if err != nil {
		return "", err
	}
	m := linuxCompiler.FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("%s/include/generated/compile.h names no LINUX_COMPILER", t.Out)
	}
	return string(m[1]), nil
}

// CcacheStats counts the hits and misses in a ccache stats log (CCACHE_STATSLOG): one block per
// compilation, a hit being a direct or preprocessed cache hit, a miss a cache_miss.
func CcacheStats(path string) (hits, misses int, err error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return 0, 0, nil // nothing was compiled through ccache
	}
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		switch strings.TrimSpace(sc.Text()) {
		case "direct_cache_hit", "preprocessed_cache_hit":
			hits++
		case "cache_miss":
			misses++
		}
	}
	return hits, misses, sc.Err()
}
