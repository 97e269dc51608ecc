// Package kbuild runs the kernel's own build system (make) out of tree, reproducibly.
package kbuild

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/arch"
	"github.com/wslkernel/wslkernel/internal/runner"
)

// Arch is one row of the arch table.
type Arch = arch.Arch

// LookupArch returns the arch, or an error naming the known ones.
func LookupArch(name string) (Arch, error) { return arch.Lookup(name) }

// Tree is one out-of-tree build of a source tree.
type Tree struct {
	Src, Out     string
	Arch         Arch
	Jobs         int
	Wrapper      string    // "ccache" (also for ""), "distcc", "ccache+distcc" or "none"
	DistccHosts  []string  // DISTCC_HOSTS, for the distcc wrappers
	ExtraVersion string    // e.g. ".1", so the release reads <x.y.z>.<rev>
	Timestamp    time.Time // KBUILD_BUILD_TIMESTAMP: the upstream commit time
	CcacheLog    string    // CCACHE_STATSLOG: where ccache logs each compilation, for the hit rate
	CcacheDir    string    // CCACHE_DIR; empty: ccache's own default
	Runner       runner.Runner
}

// Args is the make command line for targets, so the log can start with a reproducer.
func (t *Tree) Args(targets ...string) []string {
	args := []string{"-C", t.Src, "O=" + t.Out, "ARCH=" + t.Arch.Make}
	if !t.Arch.Native() {
		args = append(args, "CROSS_COMPILE="+t.Arch.CrossCompile)
	}
	args = append(args, "-j"+strconv.Itoa(t.jobs()))
	cc := "gcc"
	if !t.Arch.Native() {
		cc = t.Arch.CrossCompile + "gcc"
	}
	switch {
	case t.Cached(): // ccache hands its misses to distcc (CCACHE_PREFIX, in Env)
		args = append(args, "CC=ccache "+cc, "HOSTCC=ccache gcc")
	case t.Wrapper == "distcc": // host programs are few and run here: only the kernel's compilations travel
		args = append(args, "CC=distcc "+cc)
	}
	// EXTRAVERSION on the command line overrides the Makefile's; LOCALVERSION set (empty) stops
	// setlocalversion from appending "+" for a tree it thinks is a dirty git checkout.
	args = append(args, "EXTRAVERSION="+t.ExtraVersion, "LOCALVERSION=")
	// The machine's Rust toolchain is not an input. Kconfig asks $(RUSTC) for its version and
	// writes the answer into .config (RUSTC_VERSION, RUSTC_LLVM_VERSION and the RUSTC_HAS_*
	// probes), so a rustup on PATH, or one that failed to answer, changed the shipped config and
	// every object's autoconf.h, and no two machines shared a compiler cache entry. Our kernels
	// carry no Rust: a profile that asks for CONFIG_RUST is refused in configure (RUST depends
	// on RUST_IS_AVAILABLE), not built with whatever rustc the machine happens to have.
	args = append(args, "RUSTC=false")
	return append(args, targets...)
}

// Cached says whether the tree compiles through ccache: its wrapper is ccache (the default) or
// ccache+distcc.
func (t *Tree) Cached() bool {
	return t.Wrapper == "" || t.Wrapper == "ccache" || t.Wrapper == "ccache+distcc"
}

// jobs is make's -j: as set, else one per core, plus 4 per remote distcc host.
func (t *Tree) jobs() int {
	if t.Jobs > 0 {
		return t.Jobs
	}
	jobs := runtime.NumCPU()
	if strings.Contains(t.Wrapper, "distcc") {
		for _, h := range t.DistccHosts {
			if name, _, _ := strings.Cut(h, "/"); name != "localhost" && name != "127.0.0.1" {
				jobs += 4
			}
		}
	}
	return jobs
}

// Env is the environment that makes the build reproducible: fixed timestamp, user and host,
// and source and build paths mapped out of debug info and __FILE__.
func (t *Tree) Env() []string {
	var env []string
	if !t.Timestamp.IsZero() { // zero only in kbuild plan, before the upstream commit is known
		env = append(env, "KBUILD_BUILD_TIMESTAMP="+t.Timestamp.UTC().Format(time.UnixDate))
	}
	env = append(env,
		"KBUILD_BUILD_USER=wslkernel",
		"KBUILD_BUILD_HOST=wslkernel",
		"KBUILD_BUILD_VERSION=1",
		"KCFLAGS="+t.prefixMaps(),
		"CCACHE_BASEDIR="+t.Src,
		"CCACHE_NOHASHDIR=1",
		"LC_ALL=C",
		"TZ=UTC",
	)
	if t.CcacheLog != "" {
		env = append(env, "CCACHE_STATSLOG="+t.CcacheLog)
	}
	if t.CcacheDir != "" {
		env = append(env, "CCACHE_DIR="+t.CcacheDir)
	}
	if strings.Contains(t.Wrapper, "distcc") {
		env = append(env, "DISTCC_HOSTS="+strings.Join(t.DistccHosts, " "))
	}
	if t.Wrapper == "ccache+distcc" {
		env = append(env, "CCACHE_PREFIX=distcc")
	}
	return env
}

// prefixMaps are the -ffile-prefix-map options that take the work dir's paths out of debug info
// and __FILE__, so the objects are the same in any work dir: only then may ccache, which hashes
// none of these paths (only the option's name) nor, with CCACHE_NOHASHDIR, the folder make
// compiles in, hand one work dir's objects to another, as a shared remote storage does.
//   - <src>/ and <out>/: the paths make passes to gcc.
//   - <out> itself: gcc writes the folder it compiles in (O=) as DW_AT_comp_dir, with no slash.
//   - <src> as seen from <out>: ccache's base_dir (CCACHE_BASEDIR) rewrites the absolute source
//     paths into relative ones before gcc sees them; mapped too, an object compiled through
//     ccache is the one compiled without it.
func (t *Tree) prefixMaps() string {
	maps := "-ffile-prefix-map=" + t.Src + "/=./ -ffile-prefix-map=" + t.Out + "/=./ -ffile-prefix-map=" + t.Out + "=."
	if rel, err := filepath.Rel(t.Out, t.Src); err == nil && rel != "." {
		maps += " -ffile-prefix-map=" + rel + "/=./"
	}
	return maps
}

// Make runs make for targets, writing all output to log. On failure the error carries the first
// real compiler or make error from the log, not its last lines.
func (t *Tree) Make(ctx context.Context, log io.Writer, targets ...string) error {
	args := t.Args(targets...)
	fmt.Fprintf(log, "# %s\n", runner.CommandLine("make", args, t.Env()))
	var capture errorCapture
	err := t.Runner.Run(ctx, "make", args, t.Env(), io.MultiWriter(log, &capture))
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &BuildError{Targets: targets, First: capture.first, Context: capture.context, Err: err}
	}
	return nil
}

// BuildError is a failed make, explained by its first real error.
type BuildError struct {
	Targets []string
	First   string   // the first "error:" line (file:line: error: …), or make's own error
	Context []string // the lines just before it
	Err     error
}

func (e *BuildError) Error() string {
	msg := fmt.Sprintf("make %s failed: %v", strings.Join(e.Targets, " "), e.Err)
	if e.First != "" {
		msg += "\nfirst error: " + e.First
		if len(e.Context) > 0 {
			msg += "\n  " + strings.Join(e.Context, "\n  ")
		}
	}
	return msg
}

func (e *BuildError) Unwrap() error { return e.Err }

var errorLine = regexp.MustCompile(`(^|\s|:)(error|fatal error|Error \d+):|\*\*\*`)

// errorCapture remembers the first line that looks like an error, with a few lines before it.
type errorCapture struct {
	partial []byte
	recent  []string
	first   string
	context []string
}

func (c *errorCapture) Write(p []byte) (int, error) {
	if c.first != "" {
		return len(p), nil
	}
	c.partial = append(c.partial, p...)
	for {
		nl := bytes.IndexByte(c.partial, '\n')
		if nl < 0 {
			break
		}
		line := string(c.partial[:nl])
		c.partial = c.partial[nl+1:]
		if errorLine.MatchString(line) {
			c.first, c.context, c.partial = line, c.recent, nil
			break
		}
		c.recent = append(c.recent, line)
		if len(c.recent) > 4 {
			c.recent = c.recent[1:]
		}
	}
	return len(p), nil
}

// ReadRelease reads the kernel release make computed (include/config/kernel.release).
func (t *Tree) ReadRelease() (string, error) {
	data, err := os.ReadFile(t.Out + "/include/config/kernel.release")
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s: no kernel.release yet: the build did not get far enough", t.Out)
	}
	return strings.TrimSpace(string(data)), err
}
