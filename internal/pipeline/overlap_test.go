package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// timeline is the fake kbuild that notes which arch's make runs when, and whose x86_64 boot
// waits for arm64's compile to have started (overlap), or not (sequential).
type timeline struct {
	*fakeKbuild
	mu            sync.Mutex
	making        map[string]int // arch: makes running now
	together      []string       // two arches compiling at once
	armStarted    chan struct{}
	once          sync.Once
	waitForArm    bool
	bootSawArm    bool
	x86BootWaited time.Duration
}

func makeArch(args []string) string {
	for _, a := range args {
		if a == "ARCH=arm64" {
			return "arm64"
		}
	}
	return "x86_64"
}

func (tl *timeline) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	switch name {
	case "make":
		arch := makeArch(args)
		tl.mu.Lock()
		for other, n := range tl.making {
			if other != arch && n > 0 {
				tl.together = append(tl.together, fmt.Sprintf("%s %s beside %s", arch, args[len(args)-1], other))
			}
		}
		tl.making[arch]++
		tl.mu.Unlock()
		if arch == "arm64" && args[len(args)-1] == "Image" {
			tl.once.Do(func() { close(tl.armStarted) })
		}
		defer func() { tl.mu.Lock(); tl.making[arch]--; tl.mu.Unlock() }()
	case "qemu-system-x86_64":
		if tl.waitForArm {
			start := time.Now()
			select {
			case <-tl.armStarted:
				tl.bootSawArm = true
			case <-time.After(20 * time.Second): // the event never came: no overlap
			}
			tl.x86BootWaited = time.Since(start)
		}
	}
	return tl.fakeKbuild.Run(ctx, name, args, env, out)
}

var seconds = regexp.MustCompile(`[0-9]+\.[0-9]+s`)

// On two cores (too few to build both arches at once), arm64 compiles while x86_64 boots: one
// compile at a time, and the console and the manifest read as a sequential run's.
func TestNextArchCompilesBesideTheBoot(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Arches = []string{"x86_64", "arm64"}
	var names [2][]string
	var consoles [2]string
	for i, sequential := range []bool{true, false} {
		tl := &timeline{fakeKbuild: &fakeKbuild{}, making: map[string]int{}, armStarted: make(chan struct{}), waitForArm: !sequential}
		var console bytes.Buffer
		work := t.TempDir()
		opts := Options{WorkDir: work, CacheDir: filepath.Join(work, "cache"), Runner: tl, Out: &console, Sequential: sequential}
		plan, err := NewPlan(context.Background(), l, opts)
		if err != nil {
			t.Fatal(err)
		}
		path, err := Run(context.Background(), plan, opts)
		if err != nil {
			t.Fatalf("Run (sequential %v) = %v\n%s", sequential, err, console.String())
		}
		m, err := manifest.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl.together) > 0 {
			t.Errorf("sequential %v: two arches compiled at once: %v", sequential, tl.together)
		}
		if !sequential && !tl.bootSawArm {
			t.Errorf("x86_64's boot waited %s and arm64's compile did not start beside it", tl.x86BootWaited)
		}
		for _, st := range m.Stages {
			names[i] = append(names[i], st.Name+"/"+st.Arch+"/"+st.Status)
		}
		// Each line as a sequential run prints it, but for the work dir and the times taken.
		consoles[i] = seconds.ReplaceAllString(strings.ReplaceAll(console.String(), work, "<work>"), "<t>s")
	}
	if !slices.Equal(names[0], names[1]) {
		t.Errorf("the manifest's stages, overlapped:\n%v\nsequential:\n%v", names[1], names[0])
	}
	if consoles[0] != consoles[1] {
		t.Errorf("the console, overlapped:\n%s\nsequential:\n%s", consoles[1], consoles[0])
	}
}

// An arch whose predecessor failed does not start, as in a sequential run.
func TestOverlapStopsAtTheFirstFailedArch(t *testing.T) {
	korg := upstreamFixture(t)
	l := line(t, korg, map[string]string{"frag.config": "CONFIG_PRINTK=y\n", "series": ""})
	l.Profile.Arches = []string{"x86_64", "arm64"}
	fake := &fakeKbuild{fail: "bzImage"}
	_, m, _, err := runLineWith(t, l, Options{WorkDir: t.TempDir(), Runner: fake}, fake)
	if err == nil || !strings.Contains(err.Error(), "kernel/fork.c:1:1: error") {
		t.Fatalf("Run with x86_64's build failing = %v", err)
	}
	if slices.Contains(fake.makes, "Image") {
		t.Errorf("arm64 was built after x86_64 failed: %v", fake.makes)
	}
	for _, st := range m.Stages {
		if st.Arch == "arm64" && st.Name != "configure" {
			t.Errorf("arm64 stage %s recorded after x86_64 failed: %s", st.Name, st.Status)
		}
	}
}
