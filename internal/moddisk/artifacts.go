package moddisk

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// The artifacts disk is the modules disk WSL is moving to (the microsoft/WSL branch that takes
// kernel 6.18.40.1): one file, artifacts.vhd, in place of modules.vhd in the NuGet package and
// the MSI, whose ext4 root holds a folder named for the kernel release (uname -r), and in it
//
//	modules/        what /lib/modules/<release> holds (modules_install's folder), mounted there
//	linux-headers/  what an out-of-tree module build needs, mounted at /usr/src/linux-headers-<release>
//	perf/           the kernel's perf tool, mounted at /usr/lib/linux-tools/<release>
//
// WSL's init logs a deprecation for the flat layout (the root is lib/modules/<release>). We make
// modules and linux-headers; perf is left out (not built here), and a layout without it is one
// WSL mounts: each folder is mounted where it is.
const (
	// ArtifactsName is the disk's file name, as WSL's NuGet package and MSI name it: a VHD
	// (Windows opens a virtual disk by its extension), of the fixed kind modules.vhd is.
	ArtifactsName = "artifacts.vhd"
	// The folders under <release>.
	ArtifactsModules = "modules"
	ArtifactsHeaders = "linux-headers"
	ArtifactsPerf    = "perf"
)

// headersNeed are the files of linux-headers an out-of-tree module build reads before any other:
// the top Makefile, the configuration (.config for the tools that read it, as DKMS does), the
// symbol versions modpost checks against, and the release the build writes into vermagic.
var headersNeed = []string{"Makefile", ".config", "Module.symvers", "include/config/kernel.release"}

// ArtifactsFolders are where the modules and the headers go in a tree laid out under root for
// release: root/<release>/modules and root/<release>/linux-headers.
func ArtifactsFolders(root, release string) (modules, headers string) {
	return filepath.Join(root, release, ArtifactsModules), filepath.Join(root, release, ArtifactsHeaders)
}

// MakeArtifacts writes dest, artifacts.vhd: a fixed VHD holding an ext4 file system of root,
// which must be laid out for release (ArtifactsFolders: the modules_install folder and the
// headers, in place), dated when. It refuses a layout WSL would not mount (CheckArtifacts' rules),
// before anything is written. The modules folder loses the build and source links
// modules_install leaves (they point into the build machine) and gets a build link to
// /usr/src/linux-headers-<release>, where WSL mounts the headers, as Debian's linux-headers
// package makes one: out-of-tree builds (and DKMS) find the headers by
// /lib/modules/$(uname -r)/build. dest appears only when complete; the same tree and time give
// the same bytes. It returns the number of modules in it.
func MakeArtifacts(ctx context.Context, run runner.Runner, root, release, dest string, when time.Time) (int, error) {
	modDir, _ := ArtifactsFolders(root, release)
	for _, link := range []string{"build", "source"} {
		if err := os.Remove(filepath.Join(modDir, link)); err != nil && !os.IsNotExist(err) {
			return 0, err
		}
	}
	if err := checkLayout(treeReader{root}, release, root); err != nil {
		return 0, err
	}
	if err := os.Symlink("/usr/src/linux-headers-"+release, filepath.Join(modDir, "build")); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(dest), 0o755); err != nil {
		return 0, err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dest), ".moddisk-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp)
	img := filepath.Join(tmp, "artifacts.img")
	n, err := makeImage(ctx, run, root, img, "artifacts", when)
	if err != nil {
		return 0, err
	}
	return n, WriteDisks(img, Disks{VHD: dest}, when)
}

// CheckArtifacts refuses an artifacts disk (a fixed VHD, or a raw ext4 image) WSL would not mount
// for the kernel whose uname -r is release, reading it with e2fsprogs' debugfs:
//   - its root holds the folder <release> and no other (lost+found aside): WSL mounts
//     <uname -r>/modules, so a disk made for another release, or for two, is a mistake;
//   - <release> holds modules and nothing but modules, linux-headers and perf;
//   - modules holds modules.dep, without which modprobe loads nothing;
//   - linux-headers, when there, holds Makefile, .config, Module.symvers and
//     include/config/kernel.release, which names release (headers of another build make
//     modules whose vermagic the kernel refuses).
func CheckArtifacts(ctx context.Context, run runner.Runner, disk, release string) error {
	debugfs, err := run.LookPath("debugfs")
	if err != nil {
		return fmt.Errorf("reading %s needs debugfs (e2fsprogs): %w", disk, err)
	}
	return checkLayout(diskReader{ctx: ctx, run: run, debugfs: debugfs, disk: disk}, release, disk)
}

// layoutReader is what the layout rules read: a tree being laid out, or a disk made of one.
type layoutReader interface {
	// list names the entries of the folder at p (slash-separated, relative to the root), and
	// whether each is a folder; ok is false when there is no folder there.
	list(p string) (entries map[string]bool, ok bool, err error)
	// read is the content of the file at p.
	read(p string) ([]byte, error)
}

// checkLayout applies CheckArtifacts' rules to what r reads; where names it in errors.
func checkLayout(r layoutReader, release, where string) error {
	if release == "" || strings.ContainsAny(release, "/\x00") || release == "." || release == ".." {
		return fmt.Errorf("%s: the kernel release %q cannot name the disk's folder", where, release)
	}
	top, _, err := r.list("")
	if err != nil {
		return err
	}
	delete(top, "lost+found")
	var others []string
	for name := range top {
		if name != release {
			others = append(others, name)
		}
	}
	slices.Sort(others)
	if !top[release] {
		return fmt.Errorf("%s: no folder %s (uname -r) at the root (it holds: %s); WSL mounts <release>/modules at /lib/modules/$(uname -r), so it would load no module: lay the disk out for this kernel",
			where, release, orNothing(others))
	}
	if len(others) > 0 {
		return fmt.Errorf("%s: besides %s, the root holds %s; an artifacts disk is one kernel's (WSL mounts only $(uname -r)'s folder): make it of this kernel alone",
			where, release, strings.Join(others, ", "))
	}
	in, _, err := r.list(release)
	if err != nil {
		return err
	}
	var unknown []string
	for name := range in {
		if name != ArtifactsModules && name != ArtifactsHeaders && name != ArtifactsPerf {
			unknown = append(unknown, name)
		}
	}
	slices.Sort(unknown)
	switch {
	case !in[ArtifactsModules]:
		return fmt.Errorf("%s: %s has no modules folder (it holds: %s); WSL mounts %s/modules at /lib/modules/%s",
			where, release, orNothing(keys(in)), release, release)
	case len(unknown) > 0:
		return fmt.Errorf("%s: %s holds %s, which WSL's layout has no place for (it mounts modules, linux-headers and perf)", where, release, strings.Join(unknown, ", "))
	}
	modules, _, err := r.list(path.Join(release, ArtifactsModules))
	if err != nil {
		return err
	}
	if _, ok := modules["modules.dep"]; !ok {
		return fmt.Errorf("%s: %s/modules has no modules.dep, so modprobe would load nothing from it: it must be a modules_install folder (depmod ran)", where, release)
	}
	if !in[ArtifactsHeaders] {
		return nil
	}
	headers := path.Join(release, ArtifactsHeaders)
	for _, need := range headersNeed {
		entries, ok, err := r.list(path.Join(headers, path.Dir(need)))
		if err != nil {
			return err
		}
		if _, there := entries[path.Base(need)]; !ok || !there {
			return fmt.Errorf("%s: %s has no %s, which an out-of-tree module build reads: the headers are incomplete", where, headers, need)
		}
	}
	got, err := r.read(path.Join(headers, "include/config/kernel.release"))
	if err != nil {
		return err
	}
	if rel := strings.TrimSpace(string(got)); rel != release {
		return fmt.Errorf("%s: %s are the headers of %s (include/config/kernel.release), not of %s: modules built against them would not load", where, headers, rel, release)
	}
	return nil
}

func orNothing(names []string) string {
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// treeReader reads a folder on this machine.
type treeReader struct{ root string }

func (t treeReader) list(p string) (map[string]bool, bool, error) {
	ents, err := os.ReadDir(filepath.Join(t.root, filepath.FromSlash(p)))
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return map[string]bool{}, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := map[string]bool{}
	for _, e := range ents {
		out[e.Name()] = e.IsDir()
	}
	return out, true, nil
}

func (t treeReader) read(p string) ([]byte, error) {
	return os.ReadFile(filepath.Join(t.root, filepath.FromSlash(p)))
}

// diskReader reads an ext4 image through debugfs: ls -p for folders, dump for files.
type diskReader struct {
	ctx     context.Context
	run     runner.Runner
	debugfs string
	disk    string
}

func (d diskReader) debug(request string) (string, error) {
	var out bytes.Buffer
	if err := d.run.Run(d.ctx, d.debugfs, []string{"-R", request, d.disk}, nil, &out); err != nil {
		return "", fmt.Errorf("debugfs -R %q %s: %v\n%s", request, d.disk, err, out.String())
	}
	if strings.Contains(out.String(), "Bad magic number") || strings.Contains(out.String(), "while trying to open") {
		return "", fmt.Errorf("%s holds no ext4 file system debugfs can open, and WSL's init mounts the disk as ext4:\n%s", d.disk, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// list parses debugfs's ls -p lines, /<inode>/<mode>/<uid>/<gid>/<name>/<size>/ (a name holding
// a slash cannot exist); the banner and errors, on the same stream, start otherwise.
func (d diskReader) list(p string) (map[string]bool, bool, error) {
	out, err := d.debug("ls -p /" + p)
	if err != nil {
		return nil, false, err
	}
	entries, found := map[string]bool{}, false
	for _, line := range strings.Split(out, "\n") {
		f := strings.Split(line, "/")
		if len(f) != 8 || f[0] != "" || f[7] != "" {
			continue
		}
		found = true
		if f[5] != "." && f[5] != ".." {
			entries[f[5]] = strings.HasPrefix(f[2], "040")
		}
	}
	return entries, found, nil
}

func (d diskReader) read(p string) ([]byte, error) {
	tmp, err := os.MkdirTemp("", "artifacts-read-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dest := filepath.Join(tmp, "file")
	if _, err := d.debug(fmt.Sprintf("dump /%s %s", p, dest)); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(dest)
	if err != nil {
		return nil, fmt.Errorf("%s: reading /%s: %w", d.disk, p, err)
	}
	return data, nil
}
