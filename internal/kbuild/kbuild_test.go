package kbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// scripted is a Runner that prints a canned make log and fails, standing in for a broken build.
type scripted struct {
	runner.Exec // Filter and LookPath, which make never needs
	log         string
	fail        bool
	args        []string
	env         []string
}

func (s *scripted) Run(_ context.Context, _ string, args, env []string, out io.Writer) error {
	s.args, s.env = args, env
	io.WriteString(out, s.log)
	if s.fail {
		return errors.New("exit status 2")
	}
	return nil
}

func TestMakeReportsTheFirstRealError(t *testing.T) {
	log := `  CC      kernel/fork.o
  CC      kernel/exec_domain.o
In file included from ../kernel/panic.c:12:
../kernel/panic.c: In function 'panic':
../kernel/panic.c:301:9: error: 'foo' undeclared (first use in this function)
  301 |         foo = 1;
make[4]: *** [../scripts/Makefile.build:229: kernel/panic.o] Error 1
make[3]: *** [../scripts/Makefile.build:478: kernel] Error 2
`
	for i := 0; i < 40; i++ {
		log += fmt.Sprintf("make[%d]: *** Waiting for unfinished jobs....\n", i)
	}
	r := &scripted{log: log, fail: true}
	tree := &Tree{Src: "/src", Out: "/out", Arch: mustArch(t, "x86_64"), Jobs: 2, Runner: r, Timestamp: time.Unix(1764000000, 0)}
	var full strings.Builder
	err := tree.Make(context.Background(), &full, "bzImage")
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Make = %v, want a BuildError", err)
	}
	if be.First != "../kernel/panic.c:301:9: error: 'foo' undeclared (first use in this function)" {
		t.Errorf("first error = %q", be.First)
	}
	if !strings.Contains(err.Error(), "../kernel/panic.c: In function 'panic':") {
		t.Errorf("error lacks the context before the first error:\n%v", err)
	}
	if strings.Contains(err.Error(), "Waiting for unfinished jobs") {
		t.Errorf("error carries make's noise:\n%v", err)
	}
	if !strings.HasPrefix(full.String(), "# KBUILD_BUILD_TIMESTAMP=") || !strings.Contains(full.String(), "make -C /src O=/out ARCH=x86_64") {
		t.Errorf("the log does not start with a reproducer:\n%.300s", full.String())
	}
}

func TestArgsAndEnvMakeTheBuildReproducible(t *testing.T) {
	ts := time.Date(2026, 11, 21, 12, 56, 1, 0, time.UTC)
	x := &Tree{Src: "/w/src", Out: "/w/build", Arch: mustArch(t, "x86_64"), Jobs: 3, ExtraVersion: ".1", Timestamp: ts}
	args := strings.Join(x.Args("bzImage"), " ")
	if want := "-C /w/src O=/w/build ARCH=x86_64 -j3 CC=ccache gcc HOSTCC=ccache gcc EXTRAVERSION=.1 LOCALVERSION= RUSTC=false bzImage"; args != want {
		t.Errorf("args = %q\nwant   %q", args, want)
	}
	env := strings.Join(x.Env(), "\n")
	for _, want := range []string{"KBUILD_BUILD_TIMESTAMP=Sat Nov 21 12:56:01 UTC 2026", "KBUILD_BUILD_USER=wslkernel", "KBUILD_BUILD_HOST=wslkernel",
		"KCFLAGS=-ffile-prefix-map=/w/src/=./ -ffile-prefix-map=/w/build/=./ -ffile-prefix-map=/w/build=. -ffile-prefix-map=../src/=./"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q", want)
		}
	}
	arm := &Tree{Src: "/s", Out: "/o", Arch: mustArch(t, "arm64"), Jobs: 1, Wrapper: "none"}
	if got := strings.Join(arm.Args("Image"), " "); !strings.Contains(got, "ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu- -j1 EXTRAVERSION=") || strings.Contains(got, "ccache") {
		t.Errorf("arm64 args = %q", got)
	}
}

func TestCompilerWrappers(t *testing.T) {
	hosts := []string{"10.0.0.5/8,lzo", "build2", "localhost/2"}
	for _, c := range []struct {
		wrapper  string
		arch     string
		args     []string // in Args
		env      []string // in Env
		notEnv   string
		wantJobs bool // -j is cores plus 4 per remote host
	}{
		{"distcc", "x86_64", []string{"CC=distcc gcc"}, []string{"DISTCC_HOSTS=10.0.0.5/8,lzo build2 localhost/2"}, "CCACHE_PREFIX", true},
		{"distcc", "arm64", []string{"CC=distcc aarch64-linux-gnu-gcc"}, []string{"DISTCC_HOSTS="}, "CCACHE_PREFIX", true},
		{"ccache+distcc", "x86_64", []string{"CC=ccache gcc", "HOSTCC=ccache gcc"}, []string{"CCACHE_PREFIX=distcc", "DISTCC_HOSTS=10.0.0.5/8,lzo"}, "", true},
		{"ccache", "x86_64", []string{"CC=ccache gcc"}, nil, "DISTCC_HOSTS", false},
	} {
		tr := &Tree{Src: "/s", Out: "/o", Arch: mustArch(t, c.arch), Wrapper: c.wrapper, DistccHosts: hosts}
		args, env := tr.Args("all"), strings.Join(tr.Env(), "\n")
		for _, want := range c.args {
			if !slices.Contains(args, want) {
				t.Errorf("%s %s: args %q lack %q", c.wrapper, c.arch, args, want)
			}
		}
		for _, want := range c.env {
			if !strings.Contains(env, want) {
				t.Errorf("%s %s: env lacks %q", c.wrapper, c.arch, want)
			}
		}
		if c.notEnv != "" && strings.Contains(env, c.notEnv) {
			t.Errorf("%s %s: env has %s", c.wrapper, c.arch, c.notEnv)
		}
		jobs := runtime.NumCPU()
		if c.wantJobs {
			jobs += 8 // two remote hosts
		}
		if !slices.Contains(args, "-j"+strconv.Itoa(jobs)) {
			t.Errorf("%s: args %q, want -j%d", c.wrapper, args, jobs)
		}
	}
}

func mustArch(t *testing.T, name string) Arch {
	t.Helper()
	a, err := LookupArch(name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
