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
	path   string
	raw    []byte // the bytes read; exists is false when there was no file
	perm   os.FileMode
	enc    textEncoding
	cfg    *Config
	exists bool
}

func readWSLConfig(path string) (*wslConfigFile, error) {
	f := &wslConfigFile{path: path, perm: 0o644}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		f.cfg = ParseConfig("")
		return f, nil
	}
	if err != nil {
		return nil, err
	}
	if info, err := os.Stat(path); err == nil {
		f.perm = info.Mode().Perm()
	}
	text, enc, err := decodeText(path, raw)
	if err != nil {
		return nil, err
	}
	f.raw, f.enc, f.cfg, f.exists = raw, enc, ParseConfig(text), true
	return f, nil
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
	return backup, atomicfile.WriteFile(f.path, out, f.perm)
}
