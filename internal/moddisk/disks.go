package moddisk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/vdisk"
)

// Disks names the files MakeDisks writes from one ext4 image; an empty name is not written.
type Disks struct {
	// VHDX is modules.vhdx, a dynamic VHDX, for .wslconfig's kernelModules=.
	VHDX string
	// VHD is modules.vhd, a fixed VHD, the form WSL's MSI takes from the Microsoft.WSL.Kernel
	// NuGet package into its tools folder (Windows opens a .vhd as a VHD, by its extension).
	VHD string
}

// MakeDisks writes the disks out names, each holding the same ext4 file system of modDir (see
// Make), and returns the number of modules in it. Each appears only when complete; the same
// modules and time give the same bytes.
func MakeDisks(ctx context.Context, run runner.Runner, modDir string, out Disks, when time.Time) (int, error) {
	first := out.VHDX
	if first == "" {
		first = out.VHD
	}
	if first == "" {
		return 0, errors.New("moddisk: no disk to write: name a VHDX, a VHD or both")
	}
	if err := os.MkdirAll(filepath.Dir(first), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(first), ".moddisk-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	for _, link := range []string{"build", "source"} {
		if err := os.Remove(filepath.Join(modDir, link)); err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	img := filepath.Join(tmp, "modules.img")
	n, err := makeImage(ctx, run, modDir, img, "modules", when)
	if err != nil {
		return 0, err
	}
	return n, WriteDisks(img, out, when)
}

// WriteDisks writes the disk image img (an ext4 file system) as the disks out names. Their
// identifiers derive from the image's content and the VHD's time stamp is when, so the same
// image gives the same files.
func WriteDisks(img string, out Disks, when time.Time) error {
	f, err := os.Open(img)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	size := info.Size()
	writers := []struct {
		dest  string
		write func(*os.File) error
	}{
		{out.VHDX, func(w *os.File) error { return vdisk.WriteVHDX(w, f, size, nil) }},
		{out.VHD, func(w *os.File) error { return vdisk.WriteFixedVHD(w, f, size, nil, when) }},
	}
	for _, wr := range writers {
		if wr.dest == "" {
			continue
		}
		if err := writeAtomically(wr.dest, wr.write); err != nil {
			return fmt.Errorf("writing %s from %s: %w", wr.dest, img, err)
		}
	}
	return nil
}

// writeAtomically writes dest through write; dest appears only when complete. (Both writers
// write whole 1 MiB blocks: no buffer needed.)
func writeAtomically(dest string, write func(*os.File) error) error {
	f, err := atomicfile.Create(dest, 0o644)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f.File); err != nil {
		return err
	}
	return f.Commit()
}
