package manifest

import (
	"os"
	"path/filepath"
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
