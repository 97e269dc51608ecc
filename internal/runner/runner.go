// Package runner runs external programs (make, qemu, xz, mke2fs, osslsigncode) behind one small
// interface. Exec runs them for real; DryRun prints the command lines instead, and as both are
// handed the same calls, a dry run cannot drift from the real one. Tests stand in their own.
package runner

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Runner runs programs.
type Runner interface {
	// Run runs name with args, env added to the environment; stdout and stderr go to out.
	Run(ctx context.Context, name string, args, env []string, out io.Writer) error
	// Filter runs name as a streaming filter (xz, zstd): in is its stdin, out its stdout, and what
	// it says on stderr goes into its error.
	Filter(ctx context.Context, name string, args, env []string, in io.Reader, out io.Writer) error
	// LookPath finds a program on PATH, or in /usr/sbin and /sbin, where Debian keeps mke2fs and
	// debugfs and a normal user's PATH may not look.
	LookPath(name string) (string, error)
}

// Exec is the Runner that runs programs for real.
//
// Each program runs in a process group of its own, so that stopping it stops what it started
// (make's compilers, qemu): a cancelled ctx (Ctrl-C, SIGTERM) sends the whole group SIGTERM, on
// which make deletes the targets it was writing, and SIGKILL if it is still there 10 s later. A
// kbuild killed outright takes the program down with it (the parent-death signal), so no make
// goes on writing into a build tree the next run is using.
type Exec struct{}

// Run executes name with args; env is added to the process environment; stdout and stderr go to out.
func (Exec) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	cmd := command(ctx, name, args, env)
	cmd.Stdout, cmd.Stderr = out, out
	return explain(ctx, name, wait(cmd), "")
}

// Filter runs name with in as its stdin and out as its stdout. It returns once the program has
// ended: a read of in still blocked then (a stalled download) ends when the caller closes in.
// An error reading in is the error, rather than the program's complaint of a truncated input.
func (Exec) Filter(ctx context.Context, name string, args, env []string, in io.Reader, out io.Writer) error {
	cmd := command(ctx, name, args, env)
	var stderr headBuffer
	cmd.Stdout, cmd.Stderr = out, &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	readErr := make(chan error, 1)
	started := func() { go feed(stdin, in, readErr) }
	err = waitStarted(cmd, started)
	select {
	case rerr := <-readErr:
		if ctx.Err() == nil {
			return fmt.Errorf("%s: reading its input: %w", name, rerr)
		}
	default:
	}
	return explain(ctx, name, err, stderr.String())
}

// feed copies in to the program's stdin and closes it at the end of in. A failed write means the
// program stopped reading (it ended): its exit status says why, so only read errors are reported.
func feed(stdin io.WriteCloser, in io.Reader, readErr chan<- error) {
	defer stdin.Close()
	buf := make([]byte, 256<<10)
	for {
		n, err := in.Read(buf)
		if n > 0 {
			if _, werr := stdin.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			readErr <- err
			return
		}
	}
}

// LookPath finds name on PATH, then in /usr/sbin and /sbin.
func (Exec) LookPath(name string) (string, error) { return lookPath(name) }

func lookPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil || strings.Contains(name, "/") {
		return p, err
	}
	for _, dir := range []string{"/usr/sbin", "/sbin"} {
		if p, err := exec.LookPath(filepath.Join(dir, name)); err == nil {
			return p, nil
		}
	}
	return "", notInstalled(name)
}

// command is name prepared to run in a process group of its own, stopped with its group.
func command(ctx context.Context, name string, args, env []string) *exec.Cmd {
	path := name
	if p, err := lookPath(name); err == nil {
		path = p
	}
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Args[0] = name // what the program sees as its name, found in /usr/sbin or not
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	return cmd
}

func wait(cmd *exec.Cmd) error { return waitStarted(cmd, func() {}) }

// waitStarted starts cmd, calls started once it runs, and waits for it; whatever of its process
// group is left behind then is killed.
func waitStarted(cmd *exec.Cmd, started func()) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	started()
	err := cmd.Wait()
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	return err
}

// explain makes a program's failure an error that names it, says how it ended and, for a filter,
// what it said; one that could not be found says what to install.
func explain(ctx context.Context, name string, err error, stderr string) error {
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return fmt.Errorf("%s: stopped: %w", name, ctx.Err())
	case errors.Is(err, exec.ErrNotFound):
		return notInstalled(name)
	}
	if s := strings.TrimSpace(stderr); s != "" {
		return fmt.Errorf("%s: %w: %s", name, err, s)
	}
	return fmt.Errorf("%s: %w", name, err)
}

// debianPackages are the packages of the programs the pipeline runs, for the error that says
// what to install (scripts/setup installs them all).
var debianPackages = map[string]string{
	"make": "make", "xz": "xz-utils", "zstd": "zstd", "cpio": "cpio", "git": "git", "gpg": "gnupg",
	"mke2fs": "e2fsprogs", "debugfs": "e2fsprogs", "qemu-img": "qemu-utils",
	"qemu-system-x86_64": "qemu-system-x86", "qemu-system-aarch64": "qemu-system-arm",
	"osslsigncode": "osslsigncode", "wixl": "wixl", "msiinfo": "msitools", "faketime": "faketime",
	"cabextract": "cabextract", "gcab": "gcab", "ccache": "ccache", "distcc": "distcc",
	"wine": "wine", "wineserver": "wine",
}

func notInstalled(name string) error {
	hint := "install it"
	if pkg, ok := debianPackages[filepath.Base(name)]; ok {
		hint = "install the Debian package " + pkg + " (scripts/setup does)"
	}
	return fmt.Errorf("%s: %w (nor in /usr/sbin or /sbin): %s", name, exec.ErrNotFound, hint)
}

// headBuffer keeps the first 8 KiB written to it: enough of a program's complaint for an error,
// without holding all of a program that will not stop talking.
type headBuffer struct{ b []byte }

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := 8<<10 - len(h.b); room > 0 {
		h.b = append(h.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return string(h.b) }
