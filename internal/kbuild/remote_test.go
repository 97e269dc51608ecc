package kbuild

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// redisServer starts a redis-server on loopback for the test, keeping nothing on disk, and
// returns its address once it answers PING.
func redisServer(t *testing.T) string {
	t.Helper()
	testtool.Need(t, "redis-server")
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	_, port, _ := net.SplitHostPort(addr)
	daemon(t, "redis-server", "--bind", "127.0.0.1", "--port", port, "--save", "",
		"--appendonly", "no", "--dir", dir, "--logfile", filepath.Join(dir, "redis.log"), "--daemonize", "no")
	for i := 0; ; i++ {
		reply, err := redisCommand(addr, "PING")
		if err == nil && reply == "+PONG" {
			return addr
		}
		if i == 100 {
			data, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("redis-server on %s did not answer PING: %q %v\n%s", addr, reply, err, data)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// redisCommand sends one inline command and returns the reply's first line (+PONG, :42, -ERR …).
func redisCommand(addr, command string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := fmt.Fprintf(c, "%s\r\n", command); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimRight(line, "\r\n"), err
}

// kernelShapedWorkDir lays out a work dir as the pipeline does, src/<profile> and
// build/<profile>/<arch>, with a source tree that compiles like the kernel's out of tree: make
// changes to the O= folder and names every source and include by its absolute $(srctree) path
// (the kernel's srctree when O= is not a subfolder of the source), with -MMD dependency files,
// debug info and __FILE__, and a header generated in the build folder.
func kernelShapedWorkDir(t *testing.T, files int) (src, out string) {
	t.Helper()
	work := t.TempDir()
	src, out = filepath.Join(work, "src", "wsl"), filepath.Join(work, "build", "wsl", "x86_64")
	top := "bzImage:\n\tmkdir -p $(O)\n\t$(MAKE) -C $(O) -f $(CURDIR)/Makefile.build srctree=$(CURDIR) bzImage\n"
	build := "objs := $(patsubst $(srctree)/%.c,%.o,$(wildcard $(srctree)/*/*.c))\n" +
		"bzImage: $(objs)\n\tcat $(objs) > $@\n" +
		"include/generated/autoconf.h:\n\tmkdir -p $(@D) && echo '#define CONFIG_HZ 250' > $@\n" +
		"$(objs): %.o: $(srctree)/%.c include/generated/autoconf.h\n\tmkdir -p $(@D)\n" +
		"\t$(CC) -Wp,-MMD,$(@D)/.$(@F).d -I$(srctree)/include -I./include -include $(srctree)/include/kconfig.h " +
		"-fmacro-prefix-map=$(srctree)/= $(KCFLAGS) -g -O2 -c -o $@ $<\n"
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("Makefile", top)
	write("Makefile.build", build)
	write("include/kconfig.h", "#include <generated/autoconf.h>\n")
	write("include/linux/util.h", "static inline int twice(int x) { return 2 * x; }\n")
	for i := 0; i < files; i++ {
		write(fmt.Sprintf("%s/f%d.c", []string{"kernel", "mm", "fs"}[i%3], i), fmt.Sprintf(
			"#include <linux/util.h>\nconst char *f%d_file = __FILE__;\nint f%d(int x) { return twice(x) * %d + CONFIG_HZ; }\n", i, i, i+1))
	}
	return src, out
}

// The cold build is what a second machine should not pay again: with CCACHE_REMOTE_STORAGE set
// as users set it, a build in one work dir fills a real redis on loopback, and the same tree
// built in another work dir, with an empty local cache of its own, hits on every compilation;
// and what it gets is what it would have compiled itself, byte for byte, naming no work dir.
func TestCcacheRemoteStorageSharesCompilationsBetweenWorkDirs(t *testing.T) {
	testtool.Need(t, "make", "gcc", "ccache")
	x86, _ := LookupArch("x86_64")
	if !x86.Native() {
		t.Skip("the kernel-shaped tree is compiled with the native gcc")
	}
	addr := redisServer(t)
	t.Setenv("CCACHE_REMOTE_STORAGE", "redis://"+addr)
	const files = 30
	var works []string
	var images [][]byte
	for _, c := range []struct {
		name, wrapper        string
		hits, misses, remote int // remote: compilations that found their result in redis
	}{
		{"A", "ccache", 0, files, 0},
		{"B", "ccache", files, 0, files},
		{"C", "none", 0, 0, 0}, // what B's objects must be: compiled in its own work dir
	} {
		tree := kernelShapedBuild(t, c.name, c.wrapper, files)
		image, err := os.ReadFile(filepath.Join(tree.Out, "bzImage"))
		if err != nil {
			t.Fatal(err)
		}
		// The objects are shared because ccache hashes no path (base_dir makes them relative, and
		// of -ffile-prefix-map only the option's name counts), so they must hold no path either:
		// B's would otherwise name A's work dir.
		works, images = append(works, filepath.Dir(filepath.Dir(tree.Src))), append(images, image)
		for _, w := range works {
			if bytes.Contains(image, []byte(w)) {
				t.Errorf("work dir %s: its objects name the work dir %s", c.name, w)
			}
		}
		hits, misses, err := CcacheStats(tree.CcacheLog)
		if err != nil {
			t.Fatal(err)
		}
		if remote := countStat(t, tree.CcacheLog, "remote_storage_hit"); hits != c.hits || misses != c.misses || remote != c.remote {
			t.Errorf("work dir %s: %d hits (%d from redis), %d misses; want %d (%d), %d",
				c.name, hits, remote, misses, c.hits, c.remote, c.misses)
		}
	}
	if !bytes.Equal(images[1], images[2]) {
		t.Errorf("the objects B had from redis differ from those compiled without ccache")
	}
	reply, err := redisCommand(addr, "DBSIZE")
	if n, _ := strconv.Atoi(strings.TrimPrefix(reply, ":")); err != nil || n == 0 {
		t.Errorf("redis DBSIZE = %q, %v: ccache stored nothing in the remote storage", reply, err)
	}
}

// kernelShapedBuild builds a new kernel-shaped work dir through Tree.Make, with an empty local
// ccache of its own.
func kernelShapedBuild(t *testing.T, name, wrapper string, files int) *Tree {
	t.Helper()
	x86, _ := LookupArch("x86_64")
	src, out := kernelShapedWorkDir(t, files)
	tree := &Tree{Src: src, Out: out, Arch: x86, Wrapper: wrapper, Jobs: 2, CcacheDir: t.TempDir(),
		CcacheLog: filepath.Join(t.TempDir(), "ccache.stats"), Runner: runner.Exec{}, Timestamp: time.Unix(1700000000, 0)}
	var log strings.Builder
	if err := tree.Make(context.Background(), &log, "bzImage"); err != nil {
		t.Fatalf("work dir %s: %v\n%s", name, err, log.String())
	}
	return tree
}

// countStat counts the compilations in a ccache stats log that record statistic.
func countStat(t *testing.T, statslog, statistic string) int {
	t.Helper()
	data, err := os.ReadFile(statslog)
	if err != nil && !errors.Is(err, os.ErrNotExist) { // none: nothing went through ccache
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(line) == statistic {
			n++
		}
	}
	return n
}
