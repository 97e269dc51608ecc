package initrd

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// newc header field order after the magic; each is 8 hex digits.
const (
	newcMagic   = "070701"
	headerSize  = 110
	maxFileSize = 1<<32 - 1
)

// mode type bits as cpio stores them.
const (
	typeFile    = 0o100000
	typeDir     = 0o040000
	typeChar    = 0o020000
	typeBlock   = 0o060000
	typeSymlink = 0o120000
	typeFifo    = 0o010000
	typeSocket  = 0o140000
)

// WriteNewc writes entries as a newc ("070701") cpio archive, deterministically: sorted by name
// (which puts every folder before what it holds), inode numbers 1, 2, 3… in that order, the given
// mtime on everything, and the ownership the spec gives. We write newc ourselves because
// cavaliergopher/cpio cannot write device numbers (a /dev/console node comes out as c 0,0) and
// writes later headers with the wrong magic after a checksum archive; see README.
func WriteNewc(w io.Writer, entries []Entry, mtime int64) error {
	sorted := slices.Clone(entries)
	slices.SortFunc(sorted, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	bw := bufio.NewWriterSize(w, 1<<20)
	for i, e := range sorted {
		if err := writeEntry(bw, e, uint32(i+1), mtime); err != nil {
			return err
		}
	}
	if err := writeHeader(bw, "TRAILER!!!", 0, 0, 0, 0, 1, 0, 0, 0, 0); err != nil {
		return err
	}
	return bw.Flush()
}

func writeEntry(w *bufio.Writer, e Entry, ino uint32, mtime int64) error {
	name := strings.TrimPrefix(e.Name, "/")
	perm := uint32(e.Mode.Perm()) | uint32(e.Mode)&0o7000
	nlink := uint32(1)
	var rmaj, rmin uint32
	var body io.Reader
	var size int64
	switch e.Kind {
	case File:
		f, err := os.Open(e.Source)
		if err != nil {
			return fmt.Errorf("initrd: line %d: %w", e.Line, err)
		}
		defer f.Close()
		info, err := f.Stat()
		if err != nil {
			return err
		}
		if info.Size() > maxFileSize {
			return fmt.Errorf("initrd: line %d: %s is %d bytes; newc holds at most 4 GiB - 1 per file", e.Line, e.Source, info.Size())
		}
		perm |= typeFile
		body, size = io.LimitReader(f, info.Size()), info.Size()
	case Dir:
		perm |= typeDir
		nlink = 2
	case Node:
		if e.DevType == 'b' {
			perm |= typeBlock
		} else {
			perm |= typeChar
		}
		rmaj, rmin = uint32(e.Major), uint32(e.Minor)
	case Symlink:
		perm |= typeSymlink
		body, size = strings.NewReader(e.Target), int64(len(e.Target))
	case Pipe:
		perm |= typeFifo
	case Socket:
		perm |= typeSocket
	}
	if err := writeHeader(w, name, ino, perm, uint32(e.UID), uint32(e.GID), nlink, uint32(mtime), uint32(size), rmaj, rmin); err != nil {
		return err
	}
	if body != nil {
		n, err := io.Copy(w, body)
		if err != nil {
			return fmt.Errorf("initrd: %s: %w", e.Name, err)
		}
		if n != size {
			return fmt.Errorf("initrd: %s changed size while being written (%d, then %d bytes)", e.Name, size, n)
		}
	}
	return pad(w, size)
}

func writeHeader(w *bufio.Writer, name string, ino, mode, uid, gid, nlink, mtime, size, rmaj, rmin uint32) error {
	// ino mode uid gid nlink mtime filesize devmajor devminor rdevmajor rdevminor namesize check
	_, err := fmt.Fprintf(w, "%s%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%s\x00",
		newcMagic, ino, mode, uid, gid, nlink, mtime, size, 0, 0, rmaj, rmin, len(name)+1, 0, name)
	if err != nil {
		return err
	}
	return pad(w, int64(headerSize+len(name)+1))
}

// pad aligns to 4 bytes, as newc requires after the name and after the data.
func pad(w *bufio.Writer, n int64) error {
	if r := n % 4; r != 0 {
		_, err := w.Write(make([]byte, 4-r))
		return err
	}
	return nil
}
