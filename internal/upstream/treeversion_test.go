package upstream

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/version"
)

const makefileHead = "# SPDX-License-Identifier: GPL-2.0\nVERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 118\nEXTRAVERSION =\nNAME = Baby Opossum Posse\n\nKERNELVERSION = $(VERSION)$(if $(PATCHLEVEL),.$(PATCHLEVEL)$(if $(SUBLEVEL),.$(SUBLEVEL)))$(EXTRAVERSION)\n"

func TestMakefileRelease(t *testing.T) {
	for _, tc := range []struct {
		name, makefile string
		want           string // the release, or a part of the error
		ok             bool
	}{
		{"kernel", makefileHead, "6.12.118", true},
		{"tabs and no spaces", "VERSION=6\nPATCHLEVEL\t=\t12\nSUBLEVEL = 0\nEXTRAVERSION =\n", "6.12", true},
		{"a second SUBLEVEL", makefileHead + "SUBLEVEL = 117\n", "Makefile:9: SUBLEVEL is assigned again (first at line 4)", false},
		{"override", strings.Replace(makefileHead, "SUBLEVEL = 118", "override SUBLEVEL = 118", 1), `Makefile:4: SUBLEVEL is set with "override SUBLEVEL = 118"`, false},
		{"simply expanded", strings.Replace(makefileHead, "SUBLEVEL = 118", "SUBLEVEL := 118", 1), `SUBLEVEL is set with "SUBLEVEL := 118"`, false},
		{"appended", makefileHead + "EXTRAVERSION += -evil\n", "EXTRAVERSION is assigned again", false},
		{"rc", strings.Replace(makefileHead, "EXTRAVERSION =", "EXTRAVERSION = -rc6", 1), "Makefile:5: EXTRAVERSION = -rc6: a stable release has none", false},
		{"no SUBLEVEL", "VERSION = 6\nPATCHLEVEL = 12\n", "SUBLEVEL is not set", false},
		{"not a number", strings.Replace(makefileHead, "SUBLEVEL = 118", "SUBLEVEL = 1x8", 1), "Makefile:2:", false},
		{"too large", makefileHead + strings.Repeat("#\n", maxMakefile), "more than any kernel's top Makefile", false},
		{"similar names are other variables", "VERSIONS = 7\nSUBLEVEL_X = 9\n" + makefileHead, "6.12.118", true},
	} {
		got, err := MakefileRelease([]byte(tc.makefile))
		if tc.ok {
			if err != nil || got.String() != tc.want {
				t.Errorf("%s: MakefileRelease = %v, %v; want %s", tc.name, got, err, tc.want)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: MakefileRelease = %v, %v; want an error containing %q", tc.name, got, err, tc.want)
		}
	}
}

func TestCheckTreeRelease(t *testing.T) {
	want := version.Release{Major: 6, Minor: 12, Patch: 118}
	tree := t.TempDir()
	if err := CheckTreeRelease(tree, want, "linux-6.12.118.tar.xz"); !errors.Is(err, ErrWrongTree) || !strings.Contains(err.Error(), "linux-6.12.118.tar.xz has no top Makefile") {
		t.Errorf("CheckTreeRelease(no Makefile) = %v", err)
	}
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte(makefileHead), 0o644)
	if err := CheckTreeRelease(tree, want, "x"); err != nil {
		t.Errorf("CheckTreeRelease(6.12.118 as 6.12.118) = %v", err)
	}
	err := CheckTreeRelease(tree, version.Release{Major: 6, Minor: 12, Patch: 117}, "v6.12.117 in file:///k")
	if !errors.Is(err, ErrWrongTree) || !strings.Contains(err.Error(), "v6.12.117 in file:///k holds Linux 6.12.118 (its Makefile's VERSION, PATCHLEVEL and SUBLEVEL), not 6.12.117") {
		t.Errorf("CheckTreeRelease(6.12.118 as 6.12.117) = %v", err)
	}
	// A symlinked Makefile could say anything, from anywhere.
	linked := t.TempDir()
	os.Symlink(filepath.Join(tree, "Makefile"), filepath.Join(linked, "Makefile"))
	if err := CheckTreeRelease(linked, want, "x"); !errors.Is(err, ErrWrongTree) || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("CheckTreeRelease(symlinked Makefile) = %v", err)
	}
}

// A tree someone points at may be a release candidate: its series is what counts.
func TestTreeRelease(t *testing.T) {
	tree := t.TempDir()
	if _, _, err := TreeRelease(tree); err == nil {
		t.Error("TreeRelease(no Makefile) = nil error")
	}
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte(strings.Replace(makefileHead, "EXTRAVERSION =", "EXTRAVERSION = -rc6", 1)), 0o644)
	if rel, extra, err := TreeRelease(tree); err != nil || rel.Series() != (version.Series{Major: 6, Minor: 12}) || rel.Patch != 118 || extra != "-rc6" {
		t.Errorf("TreeRelease(6.12.118-rc6) = %v, %q, %v", rel, extra, err)
	}
	os.WriteFile(filepath.Join(tree, "Makefile"), []byte(makefileHead+"SUBLEVEL = 117\n"), 0o644)
	if _, _, err := TreeRelease(tree); err == nil || !strings.Contains(err.Error(), tree+": Makefile:9: SUBLEVEL is assigned again") {
		t.Errorf("TreeRelease(ambiguous) = %v", err)
	}
	linked := t.TempDir()
	os.Symlink(filepath.Join(tree, "Makefile"), filepath.Join(linked, "Makefile"))
	if _, _, err := TreeRelease(linked); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("TreeRelease(symlinked Makefile) = %v", err)
	}
}

func FuzzMakefileRelease(f *testing.F) {
	f.Add([]byte(makefileHead))
	f.Add([]byte("VERSION = 6\nPATCHLEVEL = 12\nSUBLEVEL = 0\n"))
	f.Add([]byte("export SUBLEVEL ?= 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rel, err := MakefileRelease(data)
		if err != nil {
			return
		}
		// Whatever it accepts, the plain Makefile of that release gives the same.
		again, err := MakefileRelease([]byte("VERSION = " + strconv.Itoa(rel.Major) + "\nPATCHLEVEL = " + strconv.Itoa(rel.Minor) + "\nSUBLEVEL = " + strconv.Itoa(rel.Patch) + "\n"))
		if err != nil || again != rel {
			t.Fatalf("MakefileRelease(%q) = %v; its plain form gives %v, %v", data, rel, again, err)
		}
	})
}
