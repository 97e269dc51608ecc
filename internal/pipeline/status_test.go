package pipeline

import (
	"context"
	"github.com/wslkernel/wslkernel/internal/config"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readStatus(t *testing.T, l *config.Line, work string) *Status {
	t.Helper()
	opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache")} // the default runner, as kbuild status has
	p, err := NewPlan(context.Background(), l, opts)
	if err != nil {
		t.Fatal(err)
	}
	st, err := ReadStatus(context.Background(), p, opts)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func statusLines(st *Status) string {
	var b strings.Builder
	st.Print(&b)
	return b.String()
}

// status after a run says up to date; after a fragment changes it names the fragment, marks
// what reads the .config as following it, and leaves the initrd up to date; a deleted kernel
// is named as a missing output.
func TestStatusNamesWhatChanged(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	if st := readStatus(t, l, work); st.Stages[0].State != "not run" {
		t.Errorf("before any run: %+v", st.Stages)
	}
	if _, _, _, err := runLine(t, l, work); err != nil {
		t.Fatal(err)
	}
	st := readStatus(t, l, work)
	if !st.UpToDate || st.LastBuilt != "6.12.118.1" || st.RunStatus != "ok" {
		t.Errorf("after a run:\n%s", statusLines(st))
	}

	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\nCONFIG_FUTEX=y\n"), 0o644)
	out := statusLines(readStatus(t, l, work))
	for _, want := range []string{
		"  patch              up to date\n",
		"  configure [x86_64] stale: fragment 1 frag.config changed\n",
		"  build [x86_64]     stale: configure changed\n",
		"  boot [x86_64]      stale: after configure [x86_64], if that changes what it reads\n",
		"  initrd [x86_64]    up to date\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("after a fragment change, status lacks %q:\n%s", want, out)
		}
	}
	os.WriteFile(filepath.Join(l.Pipeline.Dir(), "frag.config"), []byte("CONFIG_PRINTK=y\n"), 0o644)
	os.Remove(filepath.Join(work, "out/smoke/6.12.118.1/x86_64/kernel"))
	out = statusLines(readStatus(t, l, work))
	if !strings.Contains(out, "  configure [x86_64] up to date\n") || !strings.Contains(out, "  build [x86_64]     stale: its outputs are gone or changed since") {
		t.Errorf("after the kernel was deleted:\n%s", out)
	}
}

// A failed run is reported with its first error line, and the stages it did not reach as not run.
func TestStatusOfAFailedRun(t *testing.T) {
	l := line(t, upstreamFixture(t), map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	work := t.TempDir()
	runLineWith(t, l, Options{WorkDir: work, Runner: &fakeKbuild{fail: "bzImage"}}, nil)
	out := statusLines(readStatus(t, l, work))
	for _, want := range []string{"last run  of 6.12.118.1 failed: make bzImage failed", "  build [x86_64]     failed: ", "  boot [x86_64]      not run"} {
		if !strings.Contains(out, want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
