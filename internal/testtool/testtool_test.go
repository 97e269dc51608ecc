package testtool

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// recorder is a test that notes how Need ended it instead of ending.
type recorder struct {
	testing.TB
	fatal, skip string
}

func (r *recorder) Helper()                        {}
func (r *recorder) Fatalf(format string, a ...any) { r.fatal = fmt.Sprintf(format, a...) }
func (r *recorder) Skipf(format string, a ...any)  { r.skip = fmt.Sprintf(format, a...) }

func TestNeedFailsUnderCIAndSkipsElsewhere(t *testing.T) {
	sh, _ := exec.LookPath("sh")
	for _, c := range []struct {
		ci, tool          string
		fatal, skip, path string
	}{
		{"true", "wslkernel-no-such-tool", "CI is set, so every tool must be here (run scripts/setup): wslkernel-no-such-tool", "", ""},
		{"", "wslkernel-no-such-tool", "", "skipped: wslkernel-no-such-tool", ""},
		{"true", "sh", "", "", sh},
	} {
		t.Setenv("CI", c.ci)
		r := &recorder{TB: t}
		paths := Need(r, c.tool)
		if !strings.HasPrefix(r.fatal, c.fatal) || (c.fatal == "") != (r.fatal == "") {
			t.Errorf("CI=%q Need(%s): Fatal %q, want %q", c.ci, c.tool, r.fatal, c.fatal)
		}
		if !strings.HasPrefix(r.skip, c.skip) || (c.skip == "") != (r.skip == "") {
			t.Errorf("CI=%q Need(%s): Skip %q, want %q", c.ci, c.tool, r.skip, c.skip)
		}
		if paths[0] != c.path {
			t.Errorf("CI=%q Need(%s) = %q, want %q", c.ci, c.tool, paths[0], c.path)
		}
	}
}
