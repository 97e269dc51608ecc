package runner_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// Stopping a program stops what it started: cancelling the context takes down the whole process
// group (a make's compilers), not only the program.
func TestCancelStopsTheProgramsChildrenToo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	defer pr.Close()
	done := make(chan error, 1)
	go func() {
		done <- runner.Exec{}.Run(ctx, "sh", []string{"-c", "sleep 60 & echo $!; wait"}, nil, pw)
	}()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("the child never started: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		t.Fatalf("PidfdOpen(%d): %v", pid, err)
	}
	defer unix.Close(pidfd)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "sh: stopped") {
		t.Errorf("Run of a cancelled program = %v, want sh stopped: context canceled", err)
	}
	// A pidfd turns readable when its process ends: the event to wait for, with a deadline.
	fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 2000); n != 1 || err != nil {
		t.Errorf("the program's child %d outlived the cancel by 2 s (poll = %d, %v)", pid, n, err)
	}
}

// A filter streams through the real program: what xz or zstd compresses, it decompresses to the
// same bytes, and the compressed stream is the format's own (its magic number).
func TestFilterRoundTrip(t *testing.T) {
	var text bytes.Buffer
	for i := range 20000 {
		fmt.Fprintf(&text, "line %d of a kernel tarball\n", i)
	}
	for _, c := range []struct {
		prog             string
		compress, expand []string
		magic            string
	}{
		{"xz", []string{"--format=xz", "--check=crc32", "-T1", "-c"}, []string{"-dc"}, "\xfd7zXZ\x00"},
		{"zstd", []string{"-q", "-c"}, []string{"-q", "-dc"}, "\x28\xb5\x2f\xfd"},
	} {
		t.Run(c.prog, func(t *testing.T) {
			testtool.Need(t, c.prog)
			ctx := context.Background()
			var packed, unpacked bytes.Buffer
			if err := (runner.Exec{}).Filter(ctx, c.prog, c.compress, nil, bytes.NewReader(text.Bytes()), &packed); err != nil {
				t.Fatalf("Filter(%s %v) = %v", c.prog, c.compress, err)
			}
			if !bytes.HasPrefix(packed.Bytes(), []byte(c.magic)) || packed.Len() >= text.Len()/4 {
				t.Fatalf("%s wrote %d bytes starting %q for %d of text: not its compressed format", c.prog, packed.Len(), packed.Bytes()[:min(8, packed.Len())], text.Len())
			}
			if err := (runner.Exec{}).Filter(ctx, c.prog, c.expand, nil, &packed, &unpacked); err != nil {
				t.Fatalf("Filter(%s %v) = %v", c.prog, c.expand, err)
			}
			if !bytes.Equal(unpacked.Bytes(), text.Bytes()) {
				t.Errorf("%s round trip gave %d bytes, want the %d put in", c.prog, unpacked.Len(), text.Len())
			}
		})
	}
}

// stalled is an input that never comes, like a download that hangs: its first Read says it has
// begun (so the program is running), and it blocks until the test ends.
type stalled struct {
	reading chan struct{}
	release chan struct{}
}

func (s *stalled) Read([]byte) (int, error) {
	select {
	case <-s.reading:
	default:
		close(s.reading)
	}
	<-s.release
	return 0, io.EOF
}

// Cancelling a filter stops it promptly, even though its input is stuck in a read.
func TestFilterCancelStopsWithinASecond(t *testing.T) {
	testtool.Need(t, "xz")
	in := &stalled{reading: make(chan struct{}), release: make(chan struct{})}
	defer close(in.release)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runner.Exec{}.Filter(ctx, "xz", []string{"-dc"}, nil, in, io.Discard) }()
	<-in.reading
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Filter after cancel = %v, want context.Canceled", err)
		}
	case <-time.After(time.Second):
		t.Fatal("Filter still running a second after the cancel")
	}
}

// A program's failure names it and how it ended; a filter's says what it printed on stderr; a
// missing one says what to install; a broken input is blamed, not the program's complaint of it.
func TestErrorsNameTheProgram(t *testing.T) {
	testtool.Need(t, "xz")
	ctx := context.Background()
	for _, c := range []struct {
		name  string
		run   func() error
		want  []string
		isErr error
	}{
		{"exit status", func() error {
			return runner.Exec{}.Run(ctx, "sh", []string{"-c", "echo to out; exit 3"}, nil, io.Discard)
		}, []string{"sh: exit status 3"}, nil},
		{"filter stderr", func() error {
			return runner.Exec{}.Filter(ctx, "xz", []string{"-dc"}, nil, strings.NewReader("not xz at all"), io.Discard)
		}, []string{"xz: exit status 1: ", "File format not recognized"}, nil},
		{"unknown program", func() error {
			return runner.Exec{}.Run(ctx, "wslkernel-no-such-program", nil, nil, io.Discard)
		}, []string{"wslkernel-no-such-program: executable file not found", "install it"}, exec.ErrNotFound},
		{"broken input", func() error {
			return runner.Exec{}.Filter(ctx, "xz", []string{"-dc"}, nil, iotest.ErrReader(errors.New("download broke")), io.Discard)
		}, []string{"xz: reading its input: download broke"}, nil},
	} {
		err := c.run()
		for _, w := range c.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error = %v, want it to say %q", c.name, err, w)
			}
		}
		if c.isErr != nil && !errors.Is(err, c.isErr) {
			t.Errorf("%s: error = %v, want errors.Is %v", c.name, err, c.isErr)
		}
	}
}

// A known program missing from the machine: the error names the Debian package to install.
func TestMissingProgramNamesItsPackage(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	err := runner.Exec{}.Filter(context.Background(), "xz", []string{"-dc"}, nil, strings.NewReader(""), io.Discard)
	if !errors.Is(err, exec.ErrNotFound) || !strings.Contains(err.Error(), "install the Debian package xz-utils") {
		t.Errorf("Filter(xz) without xz on PATH = %v", err)
	}
}

// Debian keeps mke2fs in /usr/sbin, which a normal user's PATH lacks: LookPath and Run find it.
func TestSbinProgramsAreFound(t *testing.T) {
	want := testtool.Need(t, "mke2fs")[0]
	t.Setenv("PATH", t.TempDir())
	got, err := runner.Exec{}.LookPath("mke2fs")
	if err != nil || got != want || !strings.HasSuffix(filepath.Dir(got), "sbin") {
		t.Errorf("LookPath(mke2fs) with an empty PATH = %q, %v; want %s", got, err, want)
	}
	var out bytes.Buffer
	if err := (runner.Exec{}).Run(context.Background(), "mke2fs", []string{"-V"}, nil, &out); err != nil || !strings.Contains(out.String(), "mke2fs") {
		t.Errorf("Run(mke2fs -V) with an empty PATH = %v\n%s", err, out.String())
	}
}

// A dry run prints the exact command lines, environment first, and runs nothing: the touch
// makes no file, the filter reads and writes nothing, and a missing program is no failure.
func TestDryRunPrintsAndRunsNothing(t *testing.T) {
	made := filepath.Join(t.TempDir(), "made by touch")
	var printed, out bytes.Buffer
	d := &runner.DryRun{Out: &printed}
	ctx := context.Background()
	if err := d.Run(ctx, "touch", []string{made}, []string{"TZ=UTC", "KCFLAGS=-O2 -g", "LOCALVERSION="}, &out); err != nil {
		t.Errorf("DryRun.Run = %v", err)
	}
	in := strings.NewReader("input")
	if err := d.Filter(ctx, "xz", []string{"--decompress", "--stdout"}, nil, in, &out); err != nil {
		t.Errorf("DryRun.Filter = %v", err)
	}
	sh, err := d.LookPath("sh")
	if real, _ := exec.LookPath("sh"); err != nil || sh != real {
		t.Errorf("DryRun.LookPath(sh) = %q, %v; want %q", sh, err, real)
	}
	if p, err := d.LookPath("wslkernel-no-such-program"); p != "wslkernel-no-such-program" || err != nil {
		t.Errorf("DryRun.LookPath(missing) = %q, %v; want its name and no error", p, err)
	}
	want := "TZ=UTC KCFLAGS='-O2 -g' LOCALVERSION= touch '" + made + "'\n" +
		"xz --decompress --stdout\n" +
		"# wslkernel-no-such-program (not installed)\n"
	if printed.String() != want {
		t.Errorf("DryRun printed:\n%s\nwant:\n%s", printed.String(), want)
	}
	if _, err := os.Stat(made); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the dry run ran touch: Stat = %v", err)
	}
	if out.Len() != 0 || in.Len() != len("input") {
		t.Errorf("the dry run wrote %q and read %d bytes", out.String(), len("input")-in.Len())
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"O=/w/build", "O=/w/build"},
		{"-j4", "-j4"},
		{"", "''"},
		{"CC=ccache gcc", "'CC=ccache gcc'"},
		{"$HOME", "'$HOME'"},
		{"it's", `'it'\''s'`},
		{"a;rm -rf x", "'a;rm -rf x'"},
		{"*.ko", "'*.ko'"},
	} {
		if got := runner.Quote(c.in); got != c.want {
			t.Errorf("Quote(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}
