// Package atomicfile writes files that appear under their final name only when complete:
// written beside it, synced, then renamed, so a reader sees the old file or the new one, never a
// part, whatever stops the writer.
package atomicfile

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// File is being written beside its final name.
type File struct {
	*os.File
	dest string
	perm os.FileMode
	done bool
}

// Create starts writing dest (its folder is made if needed).
func Create(dest string, perm os.FileMode) (*File, error) {
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+".tmp-")
	if err != nil {
		return nil, err
	}
	return &File{File: f, dest: dest, perm: perm}, nil
}

// Commit syncs the file and renames it into place.
func (f *File) Commit() error {
	f.done = true
	err := f.Chmod(f.perm)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), f.dest)
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// Abort throws the file away; after Commit it does nothing, so it can be deferred.
func (f *File) Abort() {
	if !f.done {
		f.done = true
		f.Close()
		os.Remove(f.Name())
	}
}

// WriteFile is os.WriteFile, atomically.
func WriteFile(dest string, data []byte, perm os.FileMode) error {
	f, err := Create(dest, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	return f.Commit()
}

// Copy copies the file src to dest, which appears only when complete.
func Copy(src, dest string, perm os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := Create(dest, perm)
	if err != nil {
		return err
	}
	defer out.Abort()
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copying %s: %w", src, err)
	}
	return out.Commit()
}
