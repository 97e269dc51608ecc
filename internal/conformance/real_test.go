package conformance

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// needRoot ends the test unless it runs as root (mmdebstrap --mode=root, mke2fs -d of a root
// file system): a failure under CI, where scripts/test runs as root, else a skip.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		testtool.Missing(t, errors.New("mmdebstrap --mode=root and mke2fs -d of a root file system need root"))
	}
}

func TestUnresolvablePackageListReal(t *testing.T) {
	testtool.Need(t, "mmdebstrap")
	needRoot(t)
	dir := t.TempDir()
	u := Userland{PackageList: filepath.Join(dir, "packages.list"), GuestDir: "../../conformance/guest", CacheDir: dir}
	writeFile(t, u.PackageList, "systemd\n# a typo:\ndocker.iox\n")
	_, err := u.Build(context.Background(), runner.Exec{})
	if want := "packages.list:3: apt cannot find package \"docker.iox\""; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("Build with a misspelt package = %v, want an error containing %q", err, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.img")); len(left) > 0 {
		t.Errorf("a failed build left %v", left)
	}
}
