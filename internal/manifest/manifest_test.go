package manifest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTreeDigestSeesContentsNamesAndLinks(t *testing.T) {
	tree := func(edit func(dir string)) string {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "kernel/lib"), 0o755)
		os.WriteFile(filepath.Join(dir, "kernel/lib/crc-itu-t.ko"), []byte("module"), 0o644)
		os.Symlink("kernel/lib/crc-itu-t.ko", filepath.Join(dir, "alias"))
		if edit != nil {
			edit(dir)
		}
		d, _, err := TreeDigest(dir)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	base := tree(nil)
	if again := tree(nil); again != base {
		t.Errorf("the same tree in another folder digests differently")
	}
	for name, edit := range map[string]func(string){
		"contents": func(d string) { os.WriteFile(filepath.Join(d, "kernel/lib/crc-itu-t.ko"), []byte("modulE"), 0o644) },
		"name": func(d string) {
			os.Rename(filepath.Join(d, "kernel/lib/crc-itu-t.ko"), filepath.Join(d, "kernel/lib/crc.ko"))
		},
		"link": func(d string) {
			os.Remove(filepath.Join(d, "alias"))
			os.Symlink("elsewhere", filepath.Join(d, "alias"))
		},
	} {
		if tree(edit) == base {
			t.Errorf("a changed %s gives the same digest", name)
		}
	}
}

func TestDescribeAFolderByItsTreeDigest(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "include/linux"), 0o755)
	os.WriteFile(filepath.Join(dir, "include/linux/version.h"), []byte("#define LINUX_VERSION_CODE 396406\n"), 0o644)
	f, err := Describe("headers", "x86_64", dir)
	digest, size, _ := TreeDigest(dir)
	if err != nil || f.SHA256 != digest || f.Size != size || size != 34 {
		t.Errorf("Describe(folder) = %+v, %v; TreeDigest %s, %d bytes", f, err, digest, size)
	}
}

// LatestRun takes the newest successful run of the profile, skipping failed ones and other
// profiles, and names the work dir when there is none.
func TestLatestRunIsTheNewestSuccessfulRun(t *testing.T) {
	work := t.TempDir()
	for _, r := range []struct{ profile, version, status string }{
		{"smoke", "6.12.117.1", "ok"},
		{"smoke", "6.12.118.1", "ok"},
		{"smoke", "6.12.118.2", "failed"},
		{"wsl", "6.12.119.1", "ok"},
	} {
		m := &Manifest{Schema: Schema, Profile: r.profile, Version: r.version, Status: r.status}
		if err := m.Write(filepath.Join(work, "out", r.profile, r.version, "manifest.json")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct{ profile, version, err string }{
		{profile: "smoke", version: "6.12.118.1"},
		{profile: "wsl", version: "6.12.119.1"},
		{profile: "custom", err: "no successful build of profile custom in " + work + ": build one first"},
	} {
		m, dir, err := LatestRun(work, c.profile)
		switch {
		case c.err != "":
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("LatestRun(%s) = %v, want an error with %q", c.profile, err, c.err)
			}
		case err != nil || m.Version != c.version || dir != filepath.Join(work, "out", c.profile, c.version):
			t.Errorf("LatestRun(%s) = %v, %s, %v; want %s", c.profile, m, dir, err, c.version)
		}
	}
}

// ForArch finds an arch's record and hands out a copy: changing it leaves the manifest as it was.
func TestForArch(t *testing.T) {
	m := Manifest{Builds: []Build{{Arch: "x86_64", Commands: 1}, {Arch: "arm64", Commands: 2}}}
	b := ForArch(m.Builds, "arm64")
	if b == nil || b.Commands != 2 {
		t.Fatalf("ForArch(arm64) = %+v", b)
	}
	b.Commands = 99
	if m.Builds[1].Commands != 2 {
		t.Error("ForArch returned the manifest's own record, not a copy")
	}
	if c := ForArch(m.Conformance, "x86_64"); c != nil {
		t.Errorf("ForArch on an empty list = %+v, want nil", c)
	}
	if b := ForArch(m.Builds, "riscv64"); b != nil {
		t.Errorf("ForArch(riscv64) = %+v, want nil", b)
	}
}
