package pipeline

import (
	"context"
	"strings"
	"testing"
)

func TestCheckBuildPath(t *testing.T) {
	for _, tc := range []struct {
		path string
		want string // empty: accepted
	}{
		{"/home/ada/wsl/.work", ""},
		{"/srv/build-2026_12/k+1@host~x", ""},
		{"/home/zoë/ядро/.work", ""},
		{"/home/ada/my builds", `holds " " at character 13`},
		{"/mnt/c:/work", `holds ":" at character 7`},
		{`/tmp/a"; touch pwned; "`, `holds "\"" at character 7`},
		{"/tmp/a'b", `holds "'" at character 7`},
		{"/tmp/`id`", "holds \"`\" at character 6"},
		{"/tmp/$HOME", `holds "$" at character 6`},
		{`/tmp/a\b`, `holds "\\" at character 7`},
		{"/tmp/a\nb", `holds "\n" at character 7`},
		{"/tmp/a\tb", `holds "\t" at character 7`},
		{"/tmp/a#b", `holds "#" at character 7`},
		{"/tmp/a;b", `holds ";" at character 7`},
		{"/tmp/a%b", `holds "%" at character 7`},
		{"/tmp/a,b", `holds "," at character 7`},
		{"/tmp/zoë x", `holds " " at character 9`},
		{"/tmp/\xff", `holds "\xff" at character 6, which the kernel's build cannot carry: it is not UTF-8`},
		{"/tmp/a\u00a0b", `holds "\u00a0" at character 7`},
	} {
		err := CheckBuildPath("the work dir", tc.path)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("CheckBuildPath(%q) = %v, want nil", tc.path, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "--work-dir")):
			t.Errorf("CheckBuildPath(%q) = %v, want an error with %q and what to do", tc.path, err, tc.want)
		}
	}
}

// The work dir is refused before the plan resolves a release: nothing is asked of upstream,
// nothing fetched (the nil line would panic if anything were).
func TestNewPlanRefusesAnUnsafeWorkDirFirst(t *testing.T) {
	_, err := NewPlan(context.Background(), nil, Options{WorkDir: "/home/ada/my builds"})
	if err == nil || !strings.Contains(err.Error(), `the work dir "/home/ada/my builds" holds " " at character 13`) {
		t.Errorf("NewPlan(work dir with a space) = %v", err)
	}
}

// Whatever CheckBuildPath accepts has none of the characters make or the shell treat specially.
func FuzzCheckBuildPath(f *testing.F) {
	for _, s := range []string{"/home/ada/.work", "/a b", "/a:b", "/a\"b", "/zoë", "/a\x00b", "/\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		if CheckBuildPath("p", path) != nil {
			return
		}
		if i := strings.IndexAny(path, " \t\n\r:=#$%,\\'\"`;&|<>()*?[]{}!^\x00"); i >= 0 {
			t.Errorf("CheckBuildPath(%q) = nil, but it holds %q", path, path[i])
		}
	})
}
