package upstream

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/treepath"
	"github.com/wslkernel/wslkernel/internal/version"
)

type entry struct {
	name, body, link string
	mode             int64
	typ              byte
}

func makeTar(t *testing.T, entries []entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mt := time.Unix(1763726161, 0)
	tw.WriteHeader(&tar.Header{Typeflag: tar.TypeXGlobalHeader, Name: "pax_global_header", PAXRecords: map[string]string{"comment": "999ff145c16b6b68b91d2df64b98bce8a8f1b631"}})
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mt, Typeflag: e.typ, Linkname: e.link, Size: int64(len(e.body))}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			tw.Write([]byte(e.body))
		}
	}
	tw.Close()
	return buf.Bytes()
}

func xzBytes(t *testing.T, data []byte) []byte {
	cmd := exec.Command("xz", "--compress", "--stdout")
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("xz: %v", err)
	}
	return out
}

func sign(t *testing.T, key *openpgp.Entity, data []byte) []byte {
	var buf bytes.Buffer
	if err := openpgp.ArmoredDetachSign(&buf, key, bytes.NewReader(data), nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// kernelMakefile is a top Makefile of release 6.12.<sublevel>, SUBLEVEL first so that a one-line
// hunk at line 1 moves it to the next.
func kernelMakefile(sublevel int) string {
	return fmt.Sprintf("SUBLEVEL = %d\nVERSION = 6\nPATCHLEVEL = 12\nEXTRAVERSION =\n", sublevel)
}

// makefileDiff is the incremental patch's hunk that moves kernelMakefile(from) to (to).
func makefileDiff(from, to int) string {
	return fmt.Sprintf("diff --git a/Makefile b/Makefile\n--- a/Makefile\n+++ b/Makefile\n@@ -1,4 +1,4 @@\n-SUBLEVEL = %d\n+SUBLEVEL = %d\n VERSION = 6\n PATCHLEVEL = 12\n EXTRAVERSION =\n", from, to)
}

func release(s string) version.Release {
	r, _ := version.ParseRelease(s)
	return r
}

var tree1 = []entry{
	{name: "linux-6.12.1/", typ: tar.TypeDir, mode: 0o775},
	{name: "linux-6.12.1/Makefile", body: kernelMakefile(1), typ: tar.TypeReg, mode: 0o664},
	{name: "linux-6.12.1/scripts/", typ: tar.TypeDir, mode: 0o775},
	{name: "linux-6.12.1/scripts/config", body: "#!/bin/sh\n", typ: tar.TypeReg, mode: 0o775},
	{name: "linux-6.12.1/scripts/link", link: "config", typ: tar.TypeSymlink, mode: 0o777},
}

// releaseTree is tree1 under linux-6.12.<sublevel>/, its Makefile saying 6.12.<says>.
func releaseTree(sublevel, says int) []entry {
	tree := make([]entry, len(tree1))
	for i, e := range tree1 {
		e.name = strings.Replace(e.name, "linux-6.12.1/", fmt.Sprintf("linux-6.12.%d/", sublevel), 1)
		if strings.HasSuffix(e.name, "/Makefile") {
			e.body = kernelMakefile(says)
		}
		tree[i] = e
	}
	return tree
}

// serveTarball puts release v's tarball of entries and its signature by key under base.
func serveTarball(t *testing.T, key *openpgp.Entity, base, v string, entries []entry) {
	t.Helper()
	tarball := makeTar(t, entries)
	os.WriteFile(filepath.Join(base, "v6.x/linux-"+v+".tar.xz"), xzBytes(t, tarball), 0o644)
	os.WriteFile(filepath.Join(base, "v6.x/linux-"+v+".tar.sign"), sign(t, key, tarball), 0o644)
}

// kernelOrg serves base/v6.x/linux-6.12.1.tar.xz (+ .tar.sign) as kernel.org lays them out.
func kernelOrg(t *testing.T, key *openpgp.Entity, tarball []byte, signed []byte) string {
	t.Helper()
	base := t.TempDir()
	os.MkdirAll(filepath.Join(base, "v6.x/incr"), 0o755)
	os.WriteFile(filepath.Join(base, "v6.x/linux-6.12.1.tar.xz"), xzBytes(t, tarball), 0o644)
	os.WriteFile(filepath.Join(base, "v6.x/linux-6.12.1.tar.sign"), sign(t, key, signed), 0o644)
	return base
}

// recording runs programs for real and notes the filters' command lines: what went through it.
type recording struct {
	runner.Exec
	filters []string
}

func (r *recording) Filter(ctx context.Context, name string, args, env []string, in io.Reader, out io.Writer) error {
	r.filters = append(r.filters, runner.CommandLine(name, args, env))
	return r.Exec.Filter(ctx, name, args, env, in, out)
}

func TestExtractTarballVerifiesWhileExtracting(t *testing.T) {
	key := newKey(t, "stable")
	trust := Trust{Keyring: keyring(t, key)}
	tarball := makeTar(t, tree1)
	base := kernelOrg(t, key, tarball, tarball)
	dest := filepath.Join(t.TempDir(), "linux-6.12.1")
	rec := &recording{}
	u, err := ExtractTarball(context.Background(), rec, "file://"+base, release("6.12.1"), trust, Limits{}, dest)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rec.filters, []string{"xz --decompress --stdout"}) {
		t.Errorf("filters run through the Runner: %q, want xz --decompress --stdout", rec.filters)
	}
	if u.Files != 3 || u.Commit != "999ff145c16b6b68b91d2df64b98bce8a8f1b631" || u.ModTime.Unix() != 1763726161 || u.Signer == "" {
		t.Errorf("ExtractTarball = %+v", u)
	}
	if info, err := os.Stat(filepath.Join(dest, "scripts/config")); err != nil || info.Mode().Perm() != 0o755 {
		t.Errorf("scripts/config: %v %v, want 0755", info, err)
	}
	if info, err := os.Stat(filepath.Join(dest, "Makefile")); err != nil || info.Mode().Perm() != 0o644 {
		t.Errorf("Makefile: %v %v, want 0644", info, err)
	}
	if l, _ := os.Readlink(filepath.Join(dest, "scripts/link")); l != "config" {
		t.Errorf("scripts/link -> %q", l)
	}

	// Incremental: 6.12.1 -> 6.12.2 from kernel.org's signed patch, leaving 6.12.1 untouched.
	diff := makefileDiff(1, 2)
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.xz"), xzBytes(t, []byte(diff)), 0o644)
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.sign"), sign(t, key, []byte(diff)), 0o644)
	next := filepath.Join(filepath.Dir(dest), "linux-6.12.2")
	u2, err := ApplyIncremental(context.Background(), runner.Exec{}, "file://"+base, release("6.12.2"), trust, Limits{}, dest, next)
	if err != nil {
		t.Fatal(err)
	}
	if u2.How != "incremental from 6.12.1" || u2.Files != 3 {
		t.Errorf("ApplyIncremental = %+v", u2)
	}
	if mk, _ := os.ReadFile(filepath.Join(next, "Makefile")); string(mk) != kernelMakefile(2) {
		t.Errorf("6.12.2 Makefile = %q", mk)
	}
	if mk, _ := os.ReadFile(filepath.Join(dest, "Makefile")); string(mk) != kernelMakefile(1) {
		t.Errorf("the 6.12.1 tree changed under the hard-linked copy: Makefile = %q", mk)
	}
	// A tampered incremental patch is refused and leaves no tree.
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.xz"), xzBytes(t, []byte(strings.Replace(diff, "= 2", "= 666", 1))), 0o644)
	os.RemoveAll(next)
	if _, err := ApplyIncremental(context.Background(), runner.Exec{}, "file://"+base, release("6.12.2"), trust, Limits{}, dest, next); !errors.Is(err, ErrUntrusted) {
		t.Errorf("ApplyIncremental(tampered) = %v, want ErrUntrusted", err)
	}
	if _, err := os.Stat(next); err == nil {
		t.Errorf("a refused incremental patch left %s", next)
	}
}

func TestExtractTarballRefuses(t *testing.T) {
	key, mallory := newKey(t, "stable"), newKey(t, "mallory")
	good := makeTar(t, tree1)
	tampered := makeTar(t, append(tree1[:len(tree1):len(tree1)], entry{name: "linux-6.12.1/backdoor.c", body: "evil", typ: tar.TypeReg, mode: 0o644}))
	escape := makeTar(t, append(tree1[:len(tree1):len(tree1)], entry{name: "linux-6.12.1/../../evil", body: "x", typ: tar.TypeReg, mode: 0o644}))
	through := makeTar(t, append(tree1[:len(tree1):len(tree1)], entry{name: "linux-6.12.1/scripts/link/x", body: "x", typ: tar.TypeReg, mode: 0o644}))
	dotGit := makeTar(t, append(tree1[:len(tree1):len(tree1)], entry{name: "linux-6.12.1/.GIT/config", body: "x", typ: tar.TypeReg, mode: 0o644}))
	absolute := makeTar(t, append(tree1[:len(tree1):len(tree1)], entry{name: "linux-6.12.1//etc/x", body: "x", typ: tar.TypeReg, mode: 0o644}))
	twice := makeTar(t, append(tree1[:len(tree1):len(tree1)], entry{name: "linux-6.12.1/Makefile", body: "x", typ: tar.TypeReg, mode: 0o644}))
	outside := makeTar(t, []entry{{name: "other/Makefile", body: "x", typ: tar.TypeReg, mode: 0o644}})
	// A name that would clear the user's terminal is shown escaped, never sent to it as it is.
	terminal := makeTar(t, []entry{{name: "\x1b[2J\x1b[H/Makefile", body: "x", typ: tar.TypeReg, mode: 0o644}})
	for _, tc := range []struct {
		name         string
		signer       *openpgp.Entity
		served, sign []byte
		want         string
		untrusted    bool
	}{
		{"content changed after signing", key, tampered, good, "linux-6.12.1.tar.xz: signature does not verify", true},
		{"unknown signer", mallory, good, good, "linux-6.12.1.tar.xz is signed by key " + fingerprint(mallory) + ", which is not in the keyring", true},
		{"path escapes", key, escape, escape, `tarball entry "linux-6.12.1/../../evil": "../../evil" has a ".." component`, false},
		{"path through a symlink", key, through, through, `tarball entry "linux-6.12.1/scripts/link/x": "scripts/link/x" is under "scripts/link", which is a file or symlink`, false},
		{".GIT", key, dotGit, dotGit, `tarball entry "linux-6.12.1/.GIT/config": ".GIT/config" has a .git component`, false},
		{"absolute", key, absolute, absolute, `tarball entry "linux-6.12.1//etc/x": "/etc/x" is absolute`, false},
		{"twice", key, twice, twice, `tarball entry "linux-6.12.1/Makefile": "Makefile" is in the tree twice`, false},
		{"outside the release folder", key, outside, outside, `"other/Makefile": outside linux-6.12.1/`, false},
		{"a name with terminal escapes", key, terminal, terminal, `"\x1b[2J\x1b[H/Makefile": outside`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := kernelOrg(t, tc.signer, tc.served, tc.sign)
			dest := filepath.Join(t.TempDir(), "linux-6.12.1")
			_, err := ExtractTarball(context.Background(), runner.Exec{}, "file://"+base, release("6.12.1"), Trust{Keyring: keyring(t, key)}, Limits{}, dest)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrUntrusted) != tc.untrusted || errors.Is(err, treepath.ErrUnsafePath) != strings.HasPrefix(tc.want, "tarball entry") {
				t.Errorf("ExtractTarball = %v; want %q (untrusted %v)", err, tc.want, tc.untrusted)
			}
			if left, _ := os.ReadDir(filepath.Dir(dest)); len(left) != 0 {
				t.Errorf("a refused tarball left %v", left)
			}
		})
	}
	_, err := ExtractTarball(context.Background(), runner.Exec{}, "file://"+t.TempDir(), release("6.12.1"), Trust{Keyring: keyring(t, key)}, Limits{}, filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "linux-6.12.1.tar.sign: 404") {
		t.Errorf("ExtractTarball(missing) = %v", err)
	}
}

// kernel.org is reached over HTTP: the same tarball served by a loopback server.
func TestExtractTarballOverHTTP(t *testing.T) {
	key := newKey(t, "stable")
	tarball := makeTar(t, tree1)
	base := kernelOrg(t, key, tarball, tarball)
	srv := httptest.NewServer(http.FileServer(http.Dir(base)))
	defer srv.Close()
	dest := filepath.Join(t.TempDir(), "linux-6.12.1")
	u, err := ExtractTarball(context.Background(), runner.Exec{}, srv.URL, release("6.12.1"), Trust{Keyring: keyring(t, key)}, Limits{}, dest)
	if err != nil || u.Files != 3 {
		t.Fatalf("ExtractTarball over http = %+v, %v", u, err)
	}
	_, err = ExtractTarball(context.Background(), runner.Exec{}, srv.URL, release("6.12.2"), Trust{Keyring: keyring(t, key)}, Limits{}, filepath.Join(t.TempDir(), "x"))
	if err == nil || !strings.Contains(err.Error(), "linux-6.12.2.tar.sign: 404 Not Found") {
		t.Errorf("ExtractTarball(missing over http) = %v", err)
	}
}

// A corrupt .xz is an error naming the tarball, not a tree cut short.
func TestCorruptXZIsAnError(t *testing.T) {
	key := newKey(t, "stable")
	tarball := makeTar(t, tree1)
	base := kernelOrg(t, key, tarball, tarball)
	path := filepath.Join(base, "v6.x/linux-6.12.1.tar.xz")
	data, _ := os.ReadFile(path)
	os.WriteFile(path, data[:len(data)/2], 0o644)
	dest := filepath.Join(t.TempDir(), "linux-6.12.1")
	_, err := ExtractTarball(context.Background(), runner.Exec{}, "file://"+base, release("6.12.1"), Trust{Keyring: keyring(t, key)}, Limits{}, dest)
	if err == nil || !strings.Contains(err.Error(), "linux-6.12.1.tar.xz: ") || !strings.Contains(err.Error(), "xz: exit status 1: xz: (stdin): Unexpected end of input") {
		t.Fatalf("ExtractTarball(truncated xz) = %v", err)
	}
	if _, err := os.Stat(dest); err == nil {
		t.Errorf("a corrupt tarball left %s", dest)
	}
}

// Unpack caches trees per base URL; when the incremental patch is missing it fetches the whole
// tarball and says why, but a badly signed incremental patch is refused, not worked round.
func TestUnpackFallsBackOnlyForAMissingPatch(t *testing.T) {
	key := newKey(t, "stable")
	trust := Trust{Keyring: keyring(t, key)}
	base := kernelOrg(t, key, makeTar(t, tree1), makeTar(t, tree1))
	serveTarball(t, key, base, "6.12.2", releaseTree(2, 2))
	ctx, cache := context.Background(), t.TempDir()

	if _, u, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.1"), trust, Limits{}); err != nil || u.How != "tarball" {
		t.Fatalf("Unpack(6.12.1) = %+v, %v", u, err)
	}
	if _, u, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.1"), trust, Limits{}); err != nil || u.How != "already unpacked" {
		t.Errorf("Unpack(6.12.1) again = %+v, %v", u, err)
	}
	// A badly signed incremental patch: refused, no fallback.
	diff := makefileDiff(1, 2)
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.xz"), xzBytes(t, []byte(diff)), 0o644)
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.sign"), sign(t, newKey(t, "mallory"), []byte(diff)), 0o644)
	if _, _, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.2"), trust, Limits{}); !errors.Is(err, ErrUntrusted) {
		t.Errorf("Unpack with a badly signed incremental patch = %v, want ErrUntrusted", err)
	}
	// No incremental patch at all: the whole tarball, saying why.
	os.Remove(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.xz"))
	os.Remove(filepath.Join(base, "v6.x/incr/patch-6.12.1-2.sign"))
	dest, u, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.2"), trust, Limits{})
	if err != nil || !strings.HasPrefix(u.How, "tarball; the incremental patch failed (") || !strings.Contains(u.How, "404") {
		t.Fatalf("Unpack(6.12.2) without an incremental patch = %+v, %v", u, err)
	}
	if _, err := os.Stat(filepath.Join(dest, "scripts/config")); err != nil {
		t.Errorf("the 6.12.2 tree: %v", err)
	}
}

// A signature vouches for the bytes, the Makefile says which release they are: a genuine signed
// tarball or incremental patch served as another release is refused before the tree is used,
// and a cached tree that is not the release it is filed as is removed.
func TestTarballTreesMustBeTheReleaseTheyCameAs(t *testing.T) {
	key := newKey(t, "stable")
	trust := Trust{Keyring: keyring(t, key)}
	base := kernelOrg(t, key, makeTar(t, tree1), makeTar(t, tree1))
	ctx, cache := context.Background(), t.TempDir()
	if _, _, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.1"), trust, Limits{}); err != nil {
		t.Fatal(err)
	}
	// 6.12.1's genuine tarball, renamed and signed as 6.12.9: refused, nothing left in the cache.
	serveTarball(t, key, base, "6.12.9", releaseTree(9, 1))
	_, _, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.9"), trust, Limits{})
	if !errors.Is(err, ErrWrongTree) || !strings.Contains(err.Error(), "linux-6.12.9.tar.xz holds Linux 6.12.1") {
		t.Errorf("Unpack(6.12.1's tarball as 6.12.9) = %v; want ErrWrongTree", err)
	}
	if left, _ := filepath.Glob(filepath.Join(TarballCache(cache, "file://"+base), "linux-6.12.9*")); len(left) != 0 {
		t.Errorf("the refused tree stayed in the cache: %v", left)
	}

	// The genuine 6.12.1 -> 2 patch served as 6.12.2 -> 3 over a 6.12.2 tree: it applies in
	// reverse ("already upstream"), which must not make a 6.12.3. With no 6.12.3 tarball either,
	// the release is refused.
	serveTarball(t, key, base, "6.12.2", releaseTree(2, 2))
	if _, _, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.2"), trust, Limits{}); err != nil {
		t.Fatal(err)
	}
	diff := makefileDiff(1, 2)
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.2-3.xz"), xzBytes(t, []byte(diff)), 0o644)
	os.WriteFile(filepath.Join(base, "v6.x/incr/patch-6.12.2-3.sign"), sign(t, key, []byte(diff)), 0o644)
	_, u, err := Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.3"), trust, Limits{})
	if err == nil {
		t.Fatalf("Unpack(6.12.3 from the 1 -> 2 patch) = %+v, want an error", u)
	}
	if left, _ := filepath.Glob(filepath.Join(TarballCache(cache, "file://"+base), "linux-6.12.3*")); len(left) != 0 {
		t.Errorf("the refused 6.12.3 stayed in the cache: %v", left)
	}

	// A cache entry poisoned earlier (filed as 6.12.3, holding 6.12.2) is removed, not used.
	dir := TarballCache(cache, "file://"+base)
	if _, err := LinkTree(context.Background(), filepath.Join(dir, "linux-6.12.2"), filepath.Join(dir, "linux-6.12.3")); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(filepath.Join(dir, "linux-6.12.2.json"))
	os.WriteFile(filepath.Join(dir, "linux-6.12.3.json"), data, 0o644)
	_, _, err = Unpack(ctx, runner.Exec{}, cache, "file://"+base, release("6.12.3"), trust, Limits{})
	if !errors.Is(err, ErrWrongTree) || !strings.Contains(err.Error(), "the cached tree was removed") {
		t.Errorf("Unpack(6.12.3) over a poisoned cache entry = %v; want ErrWrongTree, removed", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "linux-6.12.3*")); len(left) != 0 {
		t.Errorf("the poisoned entry stayed in the cache: %v", left)
	}
}
