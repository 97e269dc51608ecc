package initrd

import (
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
)

// Write makes the compressed archive at dest, which appears only when complete. compression is
// "gzip" (the header carries no name and no mtime) or "none".
func Write(dest string, entries []Entry, mtime int64, compression string) error {
	f, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	var w io.Writer = f
	var zw *gzip.Writer
	switch compression {
	case "gzip", "":
		if zw, err = gzip.NewWriterLevel(f, gzip.BestCompression); err != nil {
			return err
		}
		w = zw
	case "none":
	default:
		return fmt.Errorf("initrd: compression %q is not supported (gzip, none)", compression)
	}
	if err := WriteNewc(w, entries, mtime); err != nil {
		return err
	}
	if zw != nil {
		if err := zw.Close(); err != nil {
			return err
		}
	}
	return f.Commit()
}
