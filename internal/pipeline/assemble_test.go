package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// One job per arch (run --arch, each in its own work dir, as CI runners are), then assemble in a
// third: the same branch head everywhere, each arch's outputs taken with their hashes checked.
func TestAssembleGathersTheArchJobs(t *testing.T) {
	korg := upstreamFixture(t)
	files := map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": "0001-notes.patch\n", "0001-notes.patch": addNotes}
	l := line(t, korg, files)
	l.Profile.Arches = []string{"x86_64", "arm64"}
	job := func(arch string) (string, *manifest.Manifest) {
		t.Helper()
		fake := &fakeKbuild{}
		path, m, _, err := runLineWith(t, l, Options{WorkDir: t.TempDir(), Runner: fake, Arches: []string{arch}}, fake)
		if err != nil {
			t.Fatalf("run --arch %s: %v", arch, err)
		}
		return filepath.Dir(path), m
	}
	x86, mx := job("x86_64")
	arm, ma := job("arm64")
	if mx.BranchHead != ma.BranchHead || len(mx.Builds) != 1 || len(ma.Boots) != 1 || ma.Boots[0].Arch != "arm64" {
		t.Fatalf("arch jobs: branch %s vs %s, builds %+v, boots %+v", mx.BranchHead, ma.BranchHead, mx.Builds, ma.Boots)
	}

	work := t.TempDir()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: &fakeKbuild{}}
	p, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	path, err := Assemble(context.Background(), p, opts, []string{x86, arm})
	if err != nil {
		t.Fatalf("Assemble: %v", err)
	}
	m, _ := manifest.Read(path)
	if m.Status != "ok" || m.BranchHead != mx.BranchHead || len(m.Builds) != 2 || len(m.Boots) != 2 {
		t.Errorf("assembled manifest: status %s, branch %s, builds %d, boots %d", m.Status, m.BranchHead, len(m.Builds), len(m.Boots))
	}
	for _, part := range []*manifest.Manifest{mx, ma} {
		for _, o := range part.Outputs {
			got, err := manifest.Describe(o.Name, o.Arch, filepath.Join(filepath.Dir(path), o.Path))
			if err != nil || got.SHA256 != o.SHA256 {
				t.Errorf("assembled %s/%s: %v, sha256 %s want %s", o.Name, o.Arch, err, got.SHA256, o.SHA256)
			}
		}
	}
	if got := stageStatuses(m); !strings.Contains(got, "boot/x86_64:ok assemble/x86_64:ok") || !strings.Contains(got, "boot/arm64:ok assemble/arm64:ok") {
		t.Errorf("assembled stages: %s", got)
	}

	// A part built from other configs is refused, naming what differs.
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\nCONFIG_FUTEX=y\n"), 0o644)
	other, _ := job("arm64")
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\n"), 0o644)
	_, err = Assemble(context.Background(), p, opts, []string{x86, other})
	if err == nil || !strings.Contains(err.Error(), other+" has inputs digest") {
		t.Errorf("Assemble with a part of other inputs = %v", err)
	}
	// And every arch must come from some part.
	if _, err := Assemble(context.Background(), p, opts, []string{x86}); err == nil || !strings.Contains(err.Error(), "built arm64") {
		t.Errorf("Assemble without arm64 = %v", err)
	}
}
