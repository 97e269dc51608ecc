package initrd

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/klauspost/compress/gzip"
)

// Write makes the compressed archive at dest, via a temporary file renamed into place.
// compression is "gzip" (the header carries no name and no mtime) or "none".
func Write(dest string, entries []Entry, mtime int64, compression string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dest), filepath.Base(dest)+".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	var w io.Writer = tmp
	var zw *gzip.Writer
	switch compression {
	case "gzip", "":
		zw, err = gzip.NewWriterLevel(tmp, gzip.BestCompression)
		if err != nil {
			return err
		}
		w = zw
	case "none":
	default:
		return fmt.Errorf("initrd: compression %q is not supported (gzip, none)", compression)
	}
	if err := WriteNewc(w, entries, mtime); err != nil {
		tmp.Close()
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), dest)
}
