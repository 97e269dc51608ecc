package pipeline

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Changing a fragment reruns configure and what reads its .config; the fetch is checked, the
// patch stage and the initrd are not redone, and the boot is skipped too when the kernel came
// out byte-identical.
func TestFragmentChangeRerunsConfigureAndWhatFollows(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	work := t.TempDir()
	if _, _, _, err := runLine(t, l, work); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\nCONFIG_FUTEX=y\n"), 0o644)
	_, m, fake, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	want := "fetch:ok patch:skipped configure/x86_64:ok branch:ok build/x86_64:ok initrd/x86_64:skipped boot/x86_64:skipped"
	if got := stageStatuses(m); got != want {
		t.Errorf("stages after a fragment change:\n got %s\nwant %s", got, want)
	}
	if !slices.Contains(fake.makes, "olddefconfig") || !slices.Contains(fake.makes, "bzImage") {
		t.Errorf("make ran %v, want configure and the build again", fake.makes)
	}
	got, _ := os.ReadFile(filepath.Join(work, "out/smoke/6.12.118.1/x86_64/config"))
	if !strings.Contains(string(got), "CONFIG_FUTEX=y") {
		t.Errorf("the output config lacks the new option:\n%s", got)
	}
}

// An output that is gone (or changed) is made again; what does not depend on it is not.
func TestMissingOutputIsMadeAgain(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	path, _, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	kernel := filepath.Join(filepath.Dir(path), "x86_64/kernel")
	os.WriteFile(kernel, []byte("tampered"), 0o644)
	_, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	if got := stageStatuses(m); got != "fetch:ok patch:skipped configure/x86_64:skipped branch:skipped build/x86_64:ok initrd/x86_64:skipped boot/x86_64:skipped" {
		t.Errorf("stages after the kernel was changed: %s", got)
	}
	if data, _ := os.ReadFile(kernel); !strings.HasPrefix(string(data), "bzImage 6.12.118.1") {
		t.Errorf("kernel = %q, want it built again", data)
	}
}

// A build that failed (as a killed one would have left it) is resumed by the next run: what
// finished before it is not done again, and the result is the same as one clean run's.
func TestFailedBuildResumesWhereItStopped(t *testing.T) {
	korg := upstreamFixture(t)
	files := map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes}
	l := line(t, korg, files)
	work := t.TempDir()
	_, m, _, err := runLineWith(t, l, Options{WorkDir: work, Runner: &fakeKbuild{fail: "bzImage"}}, nil)
	if err == nil || m.Status != "failed" || !strings.Contains(err.Error(), "kernel/fork.c:1:1: error") {
		t.Fatalf("Run with a failing build = %v (status %s)", err, m.Status)
	}
	_, m, fake, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	if got := stageStatuses(m); got != "fetch:ok patch:skipped configure/x86_64:skipped branch:skipped build/x86_64:ok initrd/x86_64:ok boot/x86_64:ok" {
		t.Errorf("stages of the resumed run: %s", got)
	}
	if slices.Contains(fake.makes, "olddefconfig") {
		t.Errorf("the resumed run configured again: %v", fake.makes)
	}
	// The same outputs as a clean run in a fresh work dir.
	_, clean, _, err := runLine(t, line(t, korg, files), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if got, want := outputHashes(m), outputHashes(clean); got != want {
		t.Errorf("resumed run's outputs differ from a clean run's:\n got %s\nwant %s", got, want)
	}
}

func outputHashes(m *manifest.Manifest) string {
	var parts []string
	for _, f := range m.Outputs {
		parts = append(parts, f.Name+"/"+f.Arch+"="+f.SHA256[:12])
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// A changed patch moves the source tree in place (only the paths the patch touches are
// written), and everything after it runs again; Force runs every stage regardless.
func TestPatchChangeMovesTheTreeInPlaceAndForceRunsAll(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	work := t.TempDir()
	if _, _, _, err := runLine(t, l, work); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "0001-notes.patch"), []byte(strings.Replace(addNotes, "+notes\n", "+more notes\n", 1)), 0o644)
	_, m, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	if m.Stages[1].Name != "patch" || m.Stages[1].Status != "ok" || !strings.Contains(m.Stages[1].Detail, "(updated 1 paths from") {
		t.Errorf("patch stage after a patch change: %+v", m.Stages[1])
	}
	if data, _ := os.ReadFile(filepath.Join(work, "src/smoke/Microsoft/NOTES")); string(data) != "more notes\n" {
		t.Errorf("Microsoft/NOTES = %q after the patch changed", data)
	}
	fake := &fakeKbuild{}
	_, m, _, err = runLineWith(t, l, Options{WorkDir: work, Runner: fake, Force: true}, fake)
	if err != nil {
		t.Fatal(err)
	}
	if got := stageStatuses(m); strings.Contains(got, "skipped") {
		t.Errorf("a forced run skipped stages: %s", got)
	}
}

// The MSI action's key follows the files it is built from for Windows, through the module's
// packages it imports, and go.mod; another package of the module, a test, or a file for another
// OS leaves it (and so the release's revision) alone.
func TestGoProgramKeyFollowsTheProgramOnly(t *testing.T) {
	if k := goProgramKey("../../cmd/wslconfig-action", "windows", "amd64"); len(k) != 64 {
		t.Errorf("the real action's key: %s", k)
	}
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                        "module example.com/m\n\ngo 1.26\n",
		"cmd/action/main.go":            "package main\n\nimport \"example.com/m/internal/edit\"\n\nfunc main() { edit.Do() }\n",
		"internal/edit/edit.go":         "package edit\n\nimport \"example.com/m/internal/deep\"\n\nfunc Do() { deep.Do() }\n",
		"internal/edit/edit_test.go":    "package edit\n",
		"internal/deep/deep.go":         "package deep\n\nfunc Do() {}\n",
		"internal/deep/deep_linux.go":   "package deep\n",
		"internal/deep/deep_windows.go": "package deep\n",
		"internal/other/other.go":       "package other\n",
	}
	for name, body := range files {
		os.MkdirAll(filepath.Join(root, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(root, name), []byte(body), 0o644)
	}
	// The pipeline's folder may link to the module's cmd, as e2e's do.
	linked := t.TempDir()
	if err := os.Symlink(filepath.Join(root, "cmd"), filepath.Join(linked, "cmd")); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(linked, "cmd", "action")
	for _, c := range []struct {
		file  string
		moves bool
	}{
		{"cmd/action/main.go", true},
		{"internal/edit/edit.go", true},
		{"internal/deep/deep.go", true},
		{"internal/deep/deep_windows.go", true},
		{"go.mod", true},
		{"internal/deep/deep_linux.go", false},
		{"internal/edit/edit_test.go", false},
		{"internal/other/other.go", false},
	} {
		before := goProgramKey(pkg, "windows", "amd64")
		if strings.HasPrefix(before, "unreadable") || strings.HasPrefix(before, "no go.mod") {
			t.Fatal(before)
		}
		path := filepath.Join(root, c.file)
		body, _ := os.ReadFile(path)
		os.WriteFile(path, append(body, "// changed\n"...), 0o644)
		if moved := goProgramKey(pkg, "windows", "amd64") != before; moved != c.moves {
			t.Errorf("changing %s: key moved = %v, want %v", c.file, moved, c.moves)
		}
	}
}
