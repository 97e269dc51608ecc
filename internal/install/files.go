package install

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
)

// chooseFolder picks the install's folder under dir: the first of version, version_2,
// version_3... that does not exist yet, or that holds exactly files (name → source) already.
func chooseFolder(dir, version string, files map[string]string) (name string, reuse bool, err error) {
	for n := 1; ; n++ {
		name = version
		if n > 1 {
			name = fmt.Sprintf("%s_%d", version, n)
		}
		path := filepath.Join(dir, name)
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			return name, false, nil
		} else if err != nil {
			return "", false, err
		}
		if same, err := holdsExactly(path, files); err != nil || same {
			return name, same, err
		}
	}
}

// holdsExactly says whether the folder holds the files (name → source) and nothing else.
func holdsExactly(dir string, files map[string]string) (bool, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false, err
	}
	if len(entries) != len(files) {
		return false, nil
	}
	for _, e := range entries {
		src, ok := files[e.Name()]
		if !ok {
			return false, nil
		}
		a, err := fileDigest(src)
		if err != nil {
			return false, err
		}
		b, err := fileDigest(filepath.Join(dir, e.Name()))
		if err != nil || !bytes.Equal(a, b) {
			return false, err
		}
	}
	return true, nil
}

func fileDigest(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return h.Sum(nil), nil
}

// copyFolder makes dest holding files (name → source), complete or not at all: the files are
// copied into a temporary folder beside it, which is then renamed.
func copyFolder(dest string, files map[string]string) error {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), "."+filepath.Base(dest)+".tmp-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if err := atomicfile.Copy(files[name], filepath.Join(tmp, name), 0o644); err != nil {
			return err
		}
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	return os.Rename(tmp, dest)
}

// wslConfigFile is a .wslconfig as read: its bytes, encoding and parsed text.
type wslConfigFile struct {
	path   string // as the user knows it: <home>/.wslconfig
	target string // the file itself: path, or where path's symlinks lead (a dotfile manager's)
	raw    []byte // the bytes read; exists is false when there was no file
	perm   os.FileMode
	enc    textEncoding
	cfg    *Config
	exists bool
}

// maxWSLConfig bounds the .wslconfig read: WSL's own are a few hundred bytes, and the whole
// file is held, decoded and parsed in memory.
const maxWSLConfig = 1 << 20

// readWSLConfig reads the .wslconfig at path. A symlink is followed, and the file it leads to is
// the one edited; what is not a regular file (a device, a FIFO, a folder), is read-only or is
// larger than maxWSLConfig is refused before it is read.
func readWSLConfig(path string) (*wslConfigFile, error) {
	f := &wslConfigFile{path: path, target: path, perm: 0o644}
	if _, err := os.Lstat(path); errors.Is(err, os.ErrNotExist) {
		f.cfg = ParseConfig("")
		return f, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return nil, fmt.Errorf("%s: following its symlink: %w; point it at a file, or remove it", path, err)
	}
	f.target = target
	shown := path
	if target != path {
		shown = fmt.Sprintf("%s (a symlink to %s)", path, target)
	}
	info, err := os.Stat(target)
	if err != nil {
		return nil, err
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is %s, not a regular file: .wslconfig must be a text file; replace it with one", shown, fileKind(info.Mode()))
	}
	if info.Mode().Perm()&0o200 == 0 {
		// Windows would refuse to replace it (the read-only attribute); root on Linux would not,
		// but someone made it so: theirs to change.
		return nil, fmt.Errorf("%s is read-only: nothing was changed; clear its read-only attribute (attrib -r, or chmod u+w), then run again", shown)
	}
	if info.Size() > maxWSLConfig {
		return nil, fmt.Errorf("%s is %d bytes, larger than the %d a .wslconfig can sensibly be: check it is the file WSL reads, shorten it, then run again", shown, info.Size(), maxWSLConfig)
	}
	in, err := os.Open(target)
	if err != nil {
		return nil, err
	}
	defer in.Close()
	raw, err := io.ReadAll(io.LimitReader(in, maxWSLConfig+1)) // it may have grown since the Stat
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", shown, err)
	}
	if len(raw) > maxWSLConfig {
		return nil, fmt.Errorf("%s grew past %d bytes while it was read: run again once it is not being written", shown, maxWSLConfig)
	}
	f.perm = info.Mode().Perm()
	text, enc, err := decodeText(path, raw)
	if err != nil {
		return nil, err
	}
	f.raw, f.enc, f.cfg, f.exists = raw, enc, ParseConfig(text), true
	return f, nil
}

// fileKind names what a file that is not a regular one is.
func fileKind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	}
	return "a special file (" + m.Type().String() + ")"
}

// write replaces the file with its edited text in its own encoding, keeping the old file as
// .wslconfig.bak-<now> (returned). Nothing is written when nothing changed.
func (f *wslConfigFile) write(now time.Time) (backup string, err error) {
	out := f.enc.encode(f.cfg.String())
	if f.exists && bytes.Equal(out, f.raw) {
		return "", nil
	}
	if f.exists {
		backup = fmt.Sprintf("%s.bak-%s", f.path, now.UTC().Format("20060102T150405Z"))
		if err := atomicfile.WriteFile(backup, f.raw, f.perm); err != nil {
			return "", err
		}
	}
	// Written beside the target and renamed onto it: a symlink stays a symlink, and the file
	// it leads to is the one that changes.
	return backup, atomicfile.WriteFile(f.target, out, f.perm)
}
