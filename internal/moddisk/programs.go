package moddisk

import (
	"bytes"
	"context"
	"debug/elf"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// StripPrograms strips every ELF file under dir (the headers' host programs: fixdep, modpost,
// objtool...) of what records where it was built rather than what it does: the symbol table,
// whose file symbols name the source as the compiler was given it (an absolute path in an
// out-of-tree build), the debug information objtool is always built with (its compile
// folder), the .comment section and the GNU build ID, a hash over all of these. What remains,
// the code and data, is the same in any work dir, so the headers of two builds of one release
// are byte-identical; the programs run as before (Debian strips its linux-headers programs so).
//
// stripFor names the strip program for a file's machine: the target's (CROSS_COMPILE's strip)
// for the programs rebuilt for it, the build machine's for those left as they were built; ""
// for a machine it has none for, which is an error naming the file. It returns the files
// stripped, relative to dir.
func StripPrograms(ctx context.Context, run runner.Runner, dir string, stripFor func(elf.Machine) string) ([]string, error) {
	var stripped []string
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		machine, ok, err := elfProgram(path)
		if err != nil || !ok {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		strip := stripFor(machine)
		if strip == "" {
			return fmt.Errorf("%s is a program for %s, for which there is no strip here: it would carry the build machine's paths", path, machine)
		}
		var out bytes.Buffer
		args := []string{"--strip-all", "--remove-section=.comment", "--remove-section=.note.gnu.build-id", path}
		if err := run.Run(ctx, strip, args, nil, &out); err != nil {
			return fmt.Errorf("%s %s: %v\n%s", strip, rel, err, out.String())
		}
		stripped = append(stripped, rel)
		return nil
	})
	return stripped, err
}

// elfProgram is the machine of the ELF program or shared object at path; ok is false for a file
// that is neither (not ELF, or an object file, which stripping would break).
func elfProgram(path string) (elf.Machine, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, false, err
	}
	defer f.Close()
	magic := make([]byte, 4)
	if n, _ := f.ReadAt(magic, 0); n < 4 || !bytes.Equal(magic, []byte(elf.ELFMAG)) {
		return 0, false, nil
	}
	e, err := elf.NewFile(f)
	if err != nil {
		return 0, false, fmt.Errorf("%s: starts as ELF but does not read as ELF: %w", path, err)
	}
	return e.Machine, e.Type == elf.ET_EXEC || e.Type == elf.ET_DYN, nil
}
