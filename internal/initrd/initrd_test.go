package initrd

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

func writeFile(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func parse(t *testing.T, spec string, vars map[string]string) []Entry {
	t.Helper()
	entries, err := ParseSpec(strings.NewReader(spec), "test.list", vars)
	if err != nil {
		t.Fatalf("ParseSpec() = %v", err)
	}
	return entries
}

func TestParseSpecErrors(t *testing.T) {
	dir := t.TempDir()
	init := filepath.Join(dir, "init")
	writeFile(t, init, "#!/bin/sh\n")
	vars := map[string]string{"INIT": init}
	for _, tc := range []struct{ spec, want string }{
		{"file /init ${INIT} 0755 0 0\nbogus /x", "test.list:2: unknown entry type \"bogus\""},
		{"dir /dev 0755 0", "test.list:1: dir takes 4 fields, got 3"},
		{"file /init /no/such/file 0755 0 0", "test.list:1: file /init: source /no/such/file does not exist"},
		{"file /init ${NOT_SET_ANYWHERE} 0755 0 0", "test.list:1: file /init: ${NOT_SET_ANYWHERE} is neither a program of the profile nor set in the environment"},
		{"file /init " + dir + " 0755 0 0", "is not a regular file"},
		{"dir /../etc 0755 0 0", "test.list:1: /../etc: escapes the archive root"},
		{"dir /a/../../etc 0755 0 0", "escapes the archive root"},
		{"dir dev 0755 0 0", "test.list:1: dev: names must be absolute"},
		{"dir / 0755 0 0", "the archive root itself cannot be an entry"},
		{"dir /dev 0855 0 0", "test.list:1: dir /dev: mode \"0855\" is not an octal permission"},
		{"dir /dev 0755 root 0", "test.list:1: dir /dev: uid \"root\" is not a number"},
		{"dir /dev 0755 0 0\nnod /dev/console 0600 0 0 x 5 1", "test.list:2: nod /dev/console: device type \"x\" must be c or b"},
		{"dir /dev 0755 0 0\ndir /dev 0755 0 0", "test.list:2: /dev is already defined on line 1"},
		{"nod /dev/console 0600 0 0 c 5 1", "test.list:1: /dev/console: its folder /dev is not a dir in the spec (add: dir /dev 0755 0 0)"},
		{"file /init ${INIT} 0755 0 0 /linked", "hard links are not supported"},
	} {
		_, err := ParseSpec(strings.NewReader(tc.spec), "test.list", vars)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseSpec(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

const sampleSpec = `# comment
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/sda 0660 0 6 b 8 0
dir /bin 0755 0 0
file /bin/hello ${HELLO} 0755 0 0
slink /bin/sh hello 0777 0 0
pipe /fifo 0644 0 0
sock /sock 0644 0 0
file /init ${HELLO} 0700 1000 1000
`

func sample(t *testing.T) []Entry {
	dir := t.TempDir()
	hello := filepath.Join(dir, "hello")
	writeFile(t, hello, "hello, world\n123")
	return parse(t, sampleSpec, map[string]string{"HELLO": hello})
}

func TestWriteIsDeterministic(t *testing.T) {
	entries := sample(t)
	var a, b bytes.Buffer
	if err := WriteNewc(&a, entries, 1700000000); err != nil {
		t.Fatal(err)
	}
	reversed := make([]Entry, len(entries))
	for i, e := range entries {
		reversed[len(entries)-1-i] = e
	}
	if err := WriteNewc(&b, reversed, 1700000000); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Errorf("WriteNewc depends on the order of the spec's lines")
	}
	if a.Len()%4 != 0 {
		t.Errorf("archive length %d is not 4-byte aligned", a.Len())
	}
}

func TestReadBackWithCavaliergopherCpio(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteNewc(&buf, sample(t), 1700000000); err != nil {
		t.Fatal(err)
	}
	r := cpio.NewReader(&buf)
	var names []string
	for i := 1; ; i++ {
		h, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		names = append(names, h.Name)
		if h.ModTime.Unix() != 1700000000 {
			t.Errorf("%s: mtime %d, want 1700000000", h.Name, h.ModTime.Unix())
		}
		if h.Name == "bin/hello" {
			body, _ := io.ReadAll(r)
			if string(body) != "hello, world\n123" {
				t.Errorf("bin/hello holds %q", body)
			}
		}
		if h.Name == "bin/sh" && h.Linkname != "hello" {
			t.Errorf("bin/sh links to %q, want hello", h.Linkname)
		}
		if h.Name == "init" && (h.Uid != 1000 || h.Guid != 1000 || h.Mode.Perm() != 0o700) {
			t.Errorf("init: uid %d gid %d mode %v, want 1000 1000 0700", h.Uid, h.Guid, h.Mode)
		}
	}
	want := "bin bin/hello bin/sh dev dev/console dev/sda fifo init sock"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("names = %s\nwant    %s", got, want)
	}
}

// GNU cpio is what a user would check an initrd with; it must list exactly what the spec says,
// device numbers included (cavaliergopher/cpio writes every node as 0,0).
func TestGNUCpioListsWhatTheSpecSays(t *testing.T) {
	testtool.Need(t, "cpio")
	dir := t.TempDir()
	dest := filepath.Join(dir, "initrd.img")
	if err := Write(context.Background(), runner.Exec{}, dest, sample(t), 1700000000, "gzip"); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(dest)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if !zr.ModTime.IsZero() || zr.Name != "" {
		t.Errorf("gzip header carries mtime %v and name %q; want neither", zr.ModTime, zr.Name)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("cpio", "-itv", "--numeric-uid-gid", "--quiet")
	cmd.Stdin = bytes.NewReader(raw)
	cmd.Env = append(os.Environ(), "TZ=UTC", "LC_ALL=C")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("cpio -itv: %v\n%s", err, out)
	}
	want := []string{
		"drwxr-xr-x   2 0        0               0 Nov 14  2023 bin",
		"-rwxr-xr-x   1 0        0              16 Nov 14  2023 bin/hello",
		"lrwxrwxrwx   1 0        0               5 Nov 14  2023 bin/sh -> hello",
		"drwxr-xr-x   2 0        0               0 Nov 14  2023 dev",
		"crw-------   1 0        0          5,   1 Nov 14  2023 dev/console",
		"brw-rw----   1 0        6          8,   0 Nov 14  2023 dev/sda",
		"prw-r--r--   1 0        0               0 Nov 14  2023 fifo",
		"-rwx------   1 1000     1000           16 Nov 14  2023 init",
		"srw-r--r--   1 0        0               0 Nov 14  2023 sock",
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("cpio -itv printed\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// And extracting gives the file's bytes back.
	extract := filepath.Join(dir, "x")
	os.Mkdir(extract, 0o755)
	cmd = exec.Command("cpio", "-idm", "--quiet", "--no-absolute-filenames", "bin/hello")
	cmd.Dir, cmd.Stdin = extract, bytes.NewReader(raw)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cpio -id: %v\n%s", err, out)
	}
	if body, _ := os.ReadFile(filepath.Join(extract, "bin/hello")); string(body) != "hello, world\n123" {
		t.Errorf("extracted bin/hello = %q", body)
	}
}

func TestWriteLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	dest := filepath.Join(dir, "initrd.img")
	entries := []Entry{{Kind: File, Name: "/init", Source: filepath.Join(dir, "vanished"), Mode: 0o755, Line: 3}}
	err := Write(context.Background(), runner.Exec{}, dest, entries, 0, "gzip")
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Fatalf("Write with a vanished source = %v, want an error naming line 3", err)
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 0 {
		t.Errorf("Write left %v behind", left)
	}
}

func FuzzParseSpec(f *testing.F) {
	f.Add(sampleSpec)
	f.Add("dir /a 0755 0 0\nslink /a/b ../../x 0777 0 0")
	f.Fuzz(func(t *testing.T, spec string) {
		entries, err := ParseSpec(strings.NewReader(spec), "fuzz.list", nil)
		if err != nil {
			return
		}
		for _, e := range entries {
			if !strings.HasPrefix(e.Name, "/") || strings.Contains(e.Name, "..") && strings.Contains("/"+e.Name+"/", "/../") {
				t.Fatalf("accepted a name outside the root: %q", e.Name)
			}
		}
		var buf bytes.Buffer
		if err := WriteNewc(&buf, entries, 0); err != nil {
			t.Fatalf("WriteNewc of a valid spec: %v", err)
		}
	})
}

// Every compression gives the same bytes twice, and the reference decompressor (gzip, zstd, xz
// with the CRC32 check the kernel needs) gives back exactly the newc archive.
func TestCompressionsDecompressWithTheReferenceTools(t *testing.T) {
	entries := sample(t)
	var plain bytes.Buffer
	if err := WriteNewc(&plain, entries, 1700000000); err != nil {
		t.Fatal(err)
	}
	for comp, tool := range map[string][]string{"gzip": {"gzip", "-dc"}, "zstd": {"zstd", "-dc"}, "xz": {"xz", "-dc"}} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			for _, p := range []string{a, b} {
				if err := Write(context.Background(), runner.Exec{}, p, entries, 1700000000, comp); err != nil {
					t.Fatal(err)
				}
			}
			da, _ := os.ReadFile(a)
			db, _ := os.ReadFile(b)
			if !bytes.Equal(da, db) {
				t.Errorf("two %s archives of the same entries differ", comp)
			}
			testtool.Need(t, tool[0])
			out, err := exec.Command(tool[0], append(tool[1:], a)...).Output()
			if err != nil {
				t.Fatalf("%s: %v", strings.Join(tool, " "), err)
			}
			if !bytes.Equal(out, plain.Bytes()) {
				t.Errorf("%s -d gives %d bytes, not the %d-byte archive", tool[0], len(out), plain.Len())
			}
			if comp == "xz" {
				info, _ := exec.Command("xz", "--robot", "--list", a).Output()
				if !strings.Contains(string(info), "CRC32") {
					t.Errorf("xz check is not CRC32:\n%s", info)
				}
			}
		})
	}
}

// The xz compression runs through the Runner it is handed: a dry run shows the command line and
// leaves no initrd; without xz the error says what to install, and no initrd is left either.
func TestXZGoesThroughTheRunner(t *testing.T) {
	var printed bytes.Buffer
	for _, c := range []struct {
		name  string
		run   runner.Runner
		path  string // PATH while it runs
		want  string // in the error
		shows string // what the Runner printed
	}{
		{"dry run", &runner.DryRun{Out: &printed}, os.Getenv("PATH"), "xz ended before its input did", "xz --format=xz --check=crc32 -T1 -9 -c\n"},
		{"no xz", runner.Exec{}, t.TempDir(), "install the Debian package xz-utils", ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			printed.Reset()
			t.Setenv("PATH", c.path)
			dest := filepath.Join(t.TempDir(), "initrd.img")
			err := Write(context.Background(), c.run, dest, sample(t), 1700000000, "xz")
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Write(xz) = %v, want an error saying %q", err, c.want)
			}
			if printed.String() != c.shows {
				t.Errorf("the Runner printed %q, want %q", printed.String(), c.shows)
			}
			if _, err := os.Stat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed Write left %s (Stat = %v)", dest, err)
			}
		})
	}
}
