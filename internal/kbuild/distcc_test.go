package kbuild

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// freePort is a TCP port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// daemon runs a server for the test through runner.Exec, which gives it a process group of its
// own; when the test ends the group is stopped whole, whatever the server forked with it.
func daemon(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runner.Exec{}.Run(ctx, name, args, nil, io.Discard)
	}()
	t.Cleanup(func() { cancel(); <-done })
}

// distccd starts a distcc server on loopback for the test and returns its address and a function
// reading how many compilations it has done, from its statistics port (which writes the page as
// soon as a connection opens and then closes it: no HTTP request is read).
func distccd(t *testing.T) (host string, compiled func(testing.TB) int) {
	t.Helper()
	testtool.Need(t, "distccd")
	port, stats := freePort(t), freePort(t)
	log := filepath.Join(t.TempDir(), "distccd.log")
	// distccd forks its workers: stopping only the process we started left them running after
	// the test (as user distccd, children of init). daemon stops its whole process group.
	daemon(t, "distccd", "--daemon", "--no-detach", "--listen", "127.0.0.1", "--port", strconv.Itoa(port),
		"--allow", "127.0.0.1/32", "--stats", "--stats-port", strconv.Itoa(stats), "--jobs", "2", "--log-file", log)
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
			break
		}
		if i == 100 {
			data, _ := os.ReadFile(log)
			t.Fatalf("distccd did not start listening: %v\n%s", err, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
	ok := regexp.MustCompile(`(?m)^dcc_compile_ok (\d+)`)
	return fmt.Sprintf("127.0.0.1:%d/2", port), func(tb testing.TB) int {
		tb.Helper()
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", stats))
		if err != nil {
			tb.Fatalf("distccd statistics: %v", err)
		}
		defer c.Close()
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		page, err := io.ReadAll(c)
		if err != nil {
			tb.Fatalf("distccd statistics: %v", err)
		}
		m := ok.FindSubmatch(page)
		if m == nil {
			tb.Fatalf("distccd statistics without dcc_compile_ok:\n%s", page)
		}
		n, _ := strconv.Atoi(string(m[1]))
		return n
	}
}

// fakeKernel is a source tree whose Makefile builds like the kernel's as far as the wrapper is
// concerned: make -C src O=out CC=... bzImage, every object compiled with $(CC) and $(KCFLAGS).
func fakeKernel(t *testing.T, files int) string {
	t.Helper()
	src := t.TempDir()
	makefile := "objs := $(patsubst %.c,$(O)/%.o,$(wildcard *.c))\n" +
		"bzImage: $(objs)\n\tcat $(objs) > $(O)/bzImage\n" +
		"$(O)/%.o: %.c\n\t$(CC) $(KCFLAGS) -O2 -c -o $@ $<\n"
	os.WriteFile(filepath.Join(src, "Makefile"), []byte(makefile), 0o644)
	for i := 0; i < files; i++ {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%d.c", i)), []byte(fmt.Sprintf("int f%d(int x) { return x * %d; }\n", i, i+1)), 0o644)
	}
	return src
}

// The distcc wrapper sends the compilations to the hosts of pipeline.yaml's build.distcc_hosts:
// a distccd on loopback compiles them (its statistics count them), and so it does behind ccache
// (ccache+distcc) for ccache's misses.
func TestDistccCompilesOnTheDistccHosts(t *testing.T) {
	host, compiled := distccd(t)
	x86, _ := LookupArch("x86_64")
	if !x86.Native() {
		t.Skip("the fake tree is compiled with the native gcc")
	}
	for _, wrapper := range []string{"distcc", "ccache+distcc"} {
		t.Run(wrapper, func(t *testing.T) {
			before := compiled(t)
			src := fakeKernel(t, 6)
			tree := &Tree{Src: src, Out: t.TempDir(), Arch: x86, Wrapper: wrapper, DistccHosts: []string{host},
				CcacheDir: t.TempDir(), Runner: runner.Exec{}, Timestamp: time.Unix(1700000000, 0)}
			var log strings.Builder
			if err := tree.Make(context.Background(), &log, "bzImage"); err != nil {
				t.Fatalf("make through %s: %v\n%s", wrapper, err, log.String())
			}
			if _, err := os.Stat(filepath.Join(tree.Out, "bzImage")); err != nil {
				t.Fatal(err)
			}
			// distccd counts a compilation a moment after it answers it: wait for the count to settle.
			got := compiled(t) - before
			for deadline := time.Now().Add(5 * time.Second); got < 6 && time.Now().Before(deadline); got = compiled(t) - before {
				time.Sleep(100 * time.Millisecond)
			}
			if got != 6 {
				t.Errorf("distccd compiled %d of the 6 files through %s\n%s", got, wrapper, log.String())
			}
		})
	}
}
