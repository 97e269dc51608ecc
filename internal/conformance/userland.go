// Package conformance is the runtime conformance stage: it boots a built kernel under qemu with a
// real Debian 12 userland as its root disk and the run's modules disk overlaid on
// /lib/modules/<release> as WSL's init does, systemd as PID 1, and runs one probe per WSL feature
// (the guest side lives in the repository's conformance/ folder). The userland is built from
// Debian's packages with mmdebstrap, never downloaded as an image, and cached by the hash of its
// package list and guest files.
package conformance

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/wslkernel/wslkernel/internal/lines"
	"github.com/wslkernel/wslkernel/internal/runner"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// recipe names how an image is made from the list and guest files: change it when the steps
// below change, so cached images made the old way are not reused.
const recipe = "userland-v2: mmdebstrap minbase bookworm, sync-in guest/, enable wslk-probes, mke2fs ext4 +3GiB"

// Package is one line of the userland's package list.
type Package struct {
	Name string
	Line int
}

// ErrPackageList is wrapped by every error about the package list.
var ErrPackageList = errors.New("userland package list")

var packageName = regexp.MustCompile(`^[a-z0-9][a-z0-9+.-]+$`)

// ReadPackageList reads a package list: one Debian package a line, '#' starts a comment.
func ReadPackageList(path string) ([]Package, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPackageList, err)
	}
	var pkgs []Package
	err = lines.Each(bytes.NewReader(data), path, lines.Trailing, func(n int, line string) error {
		fields := strings.Fields(line)
		if len(fields) > 1 || !packageName.MatchString(fields[0]) {
			return fmt.Errorf("%w: %s:%d: %q is not one Debian package name (one a line, '#' for comments)", ErrPackageList, path, n, line)
		}
		pkgs = append(pkgs, Package{Name: fields[0], Line: n})
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("%w: %s names no package", ErrPackageList, path)
	}
	return pkgs, nil
}

// Userland says how to build the root disk image.
type Userland struct {
	PackageList string // conformance/packages.list
	GuestDir    string // conformance/guest: copied over the root file system
	CacheDir    string // images are kept here as userland-<key>.img
	Suite       string // default bookworm
	// Sources are apt source files (one-line .list or deb822 .sources) handed to mmdebstrap; by
	// default the machine's own (/etc/apt/sources.list and sources.list.d): no mirror URL of ours.
	Sources []string
	Log     io.Writer // mmdebstrap's and mke2fs's output, besides the error; may be nil
}

// Key is the SHA-256 of the recipe, the package list and every guest file (path, mode, content):
// the name of the cached image.
func (u Userland) Key() (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n", recipe, u.suite())
	list, err := os.ReadFile(u.PackageList)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrPackageList, err)
	}
	fmt.Fprintf(h, "packages %d\n", len(list))
	h.Write(list)
	err = filepath.WalkDir(u.GuestDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(u.GuestDir, path)
		fmt.Fprintf(h, "%s %v\n", filepath.ToSlash(rel), info.Mode())
		if !info.Mode().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(path)
		fmt.Fprintf(h, "%d\n", len(data))
		h.Write(data)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("conformance guest files %s: %w", u.GuestDir, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (u Userland) suite() string {
	if u.Suite == "" {
		return "bookworm"
	}
	return u.Suite
}

// ImagePath is where the image for key is cached.
func (u Userland) ImagePath(key string) string {
	return filepath.Join(u.CacheDir, "userland-"+key[:16]+".img")
}

// MachineSources are the machine's apt source files, as apt itself reads them.
func MachineSources(root string) []string {
	var out []string
	if info, err := os.Stat(filepath.Join(root, "etc/apt/sources.list")); err == nil && info.Size() > 0 {
		out = append(out, filepath.Join(root, "etc/apt/sources.list"))
	}
	for _, pat := range []string{"*.list", "*.sources"} {
		m, _ := filepath.Glob(filepath.Join(root, "etc/apt/sources.list.d", pat))
		out = append(out, m...)
	}
	sort.Strings(out)
	return out
}

// Build returns the cached image for the list and guest files, building it first if need be:
// mmdebstrap into a folder, the guest files synced in and their units enabled, then an ext4
// image made from the folder. The image appears under its final name only when complete.
func (u Userland) Build(ctx context.Context, r runner.Runner) (string, error) {
	pkgs, err := ReadPackageList(u.PackageList)
	if err != nil {
		return "", err
	}
	key, err := u.Key()
	if err != nil {
		return "", err
	}
	dest := u.ImagePath(key)
	if _, err := os.Stat(dest); err == nil {
		return dest, nil
	}
	if err := os.MkdirAll(u.CacheDir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(u.CacheDir, ".userland-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	root := filepath.Join(tmp, "root")
	if err := u.debootstrap(ctx, r, pkgs, root); err != nil {
		return "", err
	}
	img := filepath.Join(tmp, "userland.img")
	if err := makeExt4(ctx, r, root, img, u.Log); err != nil {
		return "", err
	}
	if err := syncFile(img); err != nil {
		return "", err
	}
	if err := os.Rename(img, dest); err != nil {
		return "", err
	}
	// Images of older lists are dead weight (600 MB and more each): only the current one is kept.
	old, _ := filepath.Glob(filepath.Join(u.CacheDir, "userland-*.img"))
	for _, o := range old {
		if o != dest {
			os.Remove(o)
		}
	}
	return dest, nil
}

// debootstrap runs mmdebstrap into root.
func (u Userland) debootstrap(ctx context.Context, r runner.Runner, pkgs []Package, root string) error {
	names := make([]string, len(pkgs))
	for i, p := range pkgs {
		names[i] = p.Name
	}
	guest, err := filepath.Abs(u.GuestDir)
	if err != nil {
		return err
	}
	args := []string{"--variant=minbase", "--mode=root", "--include=" + strings.Join(names, ","),
		"--customize-hook=sync-in " + guest + " /",
		// The probe runner's unit, enabled as its [Install] section says; getty on the serial
		// console masked: it hangs up other writers of ttyS0, and nobody logs in.
		`--customize-hook=chroot "$1" systemctl enable wslk-probes.service`,
		`--customize-hook=chroot "$1" systemctl mask serial-getty@ttyS0.service`,
		u.suite(), root}
	sources := u.Sources
	if sources == nil {
		sources = MachineSources("/")
	}
	args = append(args, sources...)
	var out bytes.Buffer
	w := io.Writer(&out)
	if u.Log != nil {
		w = io.MultiWriter(&out, u.Log)
	}
	if err := r.Run(ctx, "mmdebstrap", args, nil, w); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return explainMmdebstrap(u.PackageList, pkgs, out.Bytes(), err)
	}
	return nil
}

var unlocatable = regexp.MustCompile(`(?:Unable to locate package |Package '?)([a-z0-9][a-z0-9+.-]+)'?(?: has no installation candidate)?`)

// explainMmdebstrap names the list's line of a package apt could not find, or else gives the tail
// of mmdebstrap's output.
func explainMmdebstrap(list string, pkgs []Package, out []byte, err error) error {
	for _, m := range unlocatable.FindAllSubmatch(out, -1) {
		for _, p := range pkgs {
			if p.Name == string(m[1]) {
				return fmt.Errorf("%w: %s:%d: apt cannot find package %q in the machine's apt sources (check the name with apt-cache policy %s)", ErrPackageList, list, p.Line, p.Name, p.Name)
			}
		}
	}
	return fmt.Errorf("mmdebstrap (the conformance userland from %s): %v%s", list, err, tailLines(out, 20))
}

// makeExt4 makes an ext4 image of root, with 3 GiB free for the probes (docker's layers, the loop
// file systems); the file is sparse and each run writes to its own copy-on-write overlay.
func makeExt4(ctx context.Context, r runner.Runner, root, img string, log io.Writer) error {
	var used int64
	err := filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil {
			used += info.Size() + 4096
		}
		return nil
	})
	if err != nil {
		return err
	}
	mib := used>>20 + 3072
	var out bytes.Buffer
	w := io.Writer(&out)
	if log != nil {
		w = io.MultiWriter(&out, log)
	}
	args := []string{"-q", "-F", "-t", "ext4", "-d", root, "-L", "wslk-userland", img, strconv.FormatInt(mib, 10) + "M"}
	mke2fs, err := r.LookPath("mke2fs") // Debian keeps it in /usr/sbin, which PATH may lack
	if err != nil {
		return err
	}
	if err := r.Run(ctx, mke2fs, args, nil, w); err != nil {
		return fmt.Errorf("mke2fs %s (e2fsprogs): %v%s", strings.Join(args, " "), err, tailLines(out.Bytes(), 10))
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// tailLines is the last n lines of out, indented, for an error a user can read without a log.
func tailLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(lines) == 1 && lines[0] == "" {
		return ""
	}
	return "\n  " + strings.Join(lines, "\n  ")
}
