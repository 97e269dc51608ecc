package payload

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// laterClock runs every program under faketime, days on: the tools of a second build see
// another wall clock, as a build on another day would.
type laterClock struct {
	runner.Exec
	shift string // faketime's offset, e.g. +3d
}

func (l laterClock) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	return l.Exec.Run(ctx, "faketime", append([]string{"-f", l.shift, name}, args...), env, out)
}

// Two clean builds of the same release, in different folders, on different days, give the same
// payloads byte for byte: CAB, MSI, NuGet, update.json and SHA256SUMS, unsigned and signed (the
// signing time is the release's). A timestamped signature is not reproducible (the TSA's clock
// and serial number are in it), so that case is not here.
func TestPayloadsAreReproducible(t *testing.T) {
	testtool.Need(t, "wixl", "msiinfo", "osslsigncode", "faketime")
	_, certPEM, keyPEM, _, _, _ := throwawayCA(t, nil)
	for _, c := range []struct {
		name   string
		signer func() *Signer
	}{
		{"unsigned", func() *Signer { return nil }},
		{"signed", func() *Signer { return &Signer{Cert: certPEM, Key: keyPEM} }},
	} {
		var builds [2]string
		for i, run := range []runner.Runner{runner.Exec{}, laterClock{shift: "+3d"}} {
			fake, _ := fakeRun(t)
			out := fake.OutDir
			o := Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab", "msi", "nuget"}, Signer: c.signer(), Runner: run, ActionSource: actionSource}
			if _, err := Make(context.Background(), o); err != nil {
				t.Fatalf("%s, build %d: %v", c.name, i+1, err)
			}
			builds[i] = filepath.Join(out, Dir)
		}
		if builds[0] == builds[1] {
			t.Fatal("the two builds share a folder")
		}
		names := listDir(t, builds[0])
		if again := listDir(t, builds[1]); again != names {
			t.Fatalf("%s: the builds made %s and %s", c.name, names, again)
		}
		entries, _ := os.ReadDir(builds[0])
		for _, e := range entries {
			first, _ := os.ReadFile(filepath.Join(builds[0], e.Name()))
			second, _ := os.ReadFile(filepath.Join(builds[1], e.Name()))
			if len(first) == 0 || !bytes.Equal(first, second) {
				t.Errorf("%s: %s differs between two clean builds (%d and %d bytes)", c.name, e.Name(), len(first), len(second))
			}
		}
	}
}
