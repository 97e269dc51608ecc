package pipeline

import (
	"context"
	"io"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// A run's manifest, read back from disk, taken up through the rows' restores and reported again,
// is the manifest it was: what kbuild boot and package resume from is exactly what the run
// reported, the modules stage's record (kept in the build's entry) and the branch head among it.
func TestResumeThenReportGivesTheRecordBack(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes})
	l.Profile.Package.Formats = []string{"cab"}
	work := t.TempDir()
	path, _, _, err := runLine(t, l, work)
	if err != nil {
		t.Fatal(err)
	}
	m, err := manifest.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	// What a run with modules records (the fake kbuild makes none): the stage's record, and its
	// digest and boot module in the build's entry.
	m.Stages = append(m.Stages, manifest.Stage{Name: stModules, Arch: "x86_64", Status: "ok"})
	m.Builds[0].ModulesDigest, m.Builds[0].BootModule = "ab12", "crc-itu-t"
	if m.BranchHead == "" || m.BranchHead == m.PatchesHead {
		t.Fatalf("the fixture's branch head %q should be the defconfig commit, past the patches' %q", m.BranchHead, m.PatchesHead)
	}

	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}, Out: io.Discard}
	plan, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	r := newRun(plan, opts, inPackage)
	if err := r.resume(m, stages); err != nil {
		t.Fatalf("resume = %v", err)
	}
	r.report()
	got := r.m
	for _, c := range []struct {
		field     string
		got, want any
	}{
		// Release, tag and digest are the plan's; the rest is what fetch found.
		{"upstream", []any{got.Upstream.Commit, got.Upstream.CommitTime, got.Upstream.GitURL, got.Upstream.Signer, got.Upstream.Unsigned},
			[]any{m.Upstream.Commit, m.Upstream.CommitTime, m.Upstream.GitURL, m.Upstream.Signer, m.Upstream.Unsigned}},
		{"branch", []string{got.BranchRef, got.PatchesHead, got.BranchHead, got.SourceTree}, []string{m.BranchRef, m.PatchesHead, m.BranchHead, m.SourceTree}},
		{"patches", got.Patches, m.Patches},
		{"outputs", got.Outputs, m.Outputs},
		{"builds", got.Builds, m.Builds},
		{"boots", got.Boots, m.Boots},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s after resume and report:\n%+v\nwant the record's\n%+v", c.field, c.got, c.want)
		}
	}
	if ar := r.archNamed("x86_64"); ar.module != "crc-itu-t" || ar.modulesDigest != "ab12" {
		t.Errorf("the modules stage's record resumed as module %q, digest %q", ar.module, ar.modulesDigest)
	}
}
