//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// servicing is what the suite's shared run went through, as cron drives the pipeline: kernel.org
// first offers v6.12.117 only, then gains v6.12.118.
var servicing struct {
	check117, checkAfter117, check118 string // kbuild check's output at each step
	code117, codeAfter117, code118    int    // and its exit code
	run117                            string
	err117                            error
	killed                            string             // the run of 6.12.118 that was killed during its build
	killedState                       string             // how it ended
	manifest117, manifest118          *manifest.Manifest // as the run of each release left it
	back, forth                       string             // 6.12.118 pulled: the run of 6.12.117 again; restored: of 6.12.118
	backErr, forthErr                 error
	backManifest, forthManifest       *manifest.Manifest
	noop                              string // a run after the shared one: nothing to do
	noopErr                           error
	noopTook                          time.Duration
	noopManifest                      *manifest.Manifest // as the run left it (later tests package again)
	status                            string             // kbuild status --json after it
}

// stageKernelOrg makes a kernel.org view at dir: the local kernel.org's repo, keys and tarballs
// (symlinked), and a releases.json of its own, which offers v6.12.118 only once withNewest is
// true. The path stays the same from run to run, so the suite's mirror of it is reused.
func stageKernelOrg(real, dir string, withNewest bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(real)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == "releases.json" {
			continue
		}
		link, target := filepath.Join(dir, e.Name()), filepath.Join(real, e.Name())
		if now, err := os.Readlink(link); err == nil && now == target {
			continue
		}
		// Absent, or left by a kernel.org at another path (a cache folder moved): made anew.
		if err := os.RemoveAll(link); err != nil {
			return err
		}
		if err := os.Symlink(target, link); err != nil {
			return err
		}
	}
	data, err := os.ReadFile(filepath.Join(real, "releases.json"))
	if err != nil {
		return err
	}
	if !withNewest {
		var rel map[string]any
		if err := json.Unmarshal(data, &rel); err != nil {
			return err
		}
		var kept []any
		for _, r := range rel["releases"].([]any) {
			if r.(map[string]any)["version"] != "6.12.118" {
				kept = append(kept, r)
			}
		}
		rel["releases"] = kept // latest_stable stays: another series
		if data, err = json.MarshalIndent(rel, "", "  "); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, "releases.json"), data, 0o644)
}

// checkCode runs kbuild check in the shared work dir and returns its output and exit code.
func checkCode() (string, int) {
	out, err := kbuild(context.Background(), "check", "--profile", "smoke", "--work-dir", workDir)
	var exit *exec.ExitError
	switch {
	case err == nil:
		return out, 0
	case errors.As(err, &exit):
		return out, exit.ExitCode()
	default:
		return out + err.Error(), -1
	}
}

// buildUnderWay is kbuild --progress plain's first line of the x86_64 build: make has started
// (its first output is in). Not "has run commands": with a warm compiler cache the incremental
// build of the next point release takes 5 s, all of it between two throttled progress lines, so
// a kill waiting for a count above zero came after the build had finished.
var buildUnderWay = regexp.MustCompile(`^build \[x86_64\]: [0-9]`)

// runKilledDuringBuild starts kbuild run and kills it (SIGKILL: no chance to clean up) as soon
// as the build stage reports make under way (--progress plain prints each update as a
// line). It returns the output and how the process ended.
func runKilledDuringBuild() (string, string) {
	cmd := exec.Command(filepath.Join(bin, "kbuild"), "run", "--profile", "smoke", "--work-dir", workDir,
		"--cache-dir", cacheDir, "--config", filepath.Join(repoRoot, "pipeline.yaml"), "--progress", "plain")
	cmd.Dir = repoRoot
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return "", err.Error()
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return "", err.Error()
	}
	var out strings.Builder
	sc := bufio.NewScanner(stdout)
	killed := false
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if !killed && buildUnderWay.MatchString(sc.Text()) {
			killed = true
			cmd.Process.Signal(syscall.SIGKILL)
		}
	}
	err = cmd.Wait()
	state := "exited 0"
	if err != nil {
		state = err.Error()
	}
	return out.String(), state
}

// serviceInLockStep is the suite's shared run. Outputs of earlier runs of the suite are removed
// first, so every stage really runs (the source and build trees and ccache are kept, as a
// servicing machine keeps them).
func serviceInLockStep() {
	os.RemoveAll(filepath.Join(workDir, "out"))
	staged := os.Getenv("KERNEL_ORG")
	real := kernelOrg
	if err := stageKernelOrg(real, staged, false); err != nil {
		runErr = err
		return
	}
	servicing.check117, servicing.code117 = checkCode()
	start := time.Now()
	servicing.run117, servicing.err117 = kbuild(context.Background(), "run", "--profile", "smoke", "--work-dir", workDir)
	fmt.Fprintf(os.Stderr, "run of 6.12.117 took %s:\n%s\n", time.Since(start).Round(time.Second), servicing.run117)
	servicing.manifest117, _ = manifest.Read(filepath.Join(workDir, "out/smoke/6.12.117.1/manifest.json"))
	servicing.checkAfter117, servicing.codeAfter117 = checkCode()

	if err := stageKernelOrg(real, staged, true); err != nil {
		runErr = err
		return
	}
	servicing.check118, servicing.code118 = checkCode()
	start = time.Now()
	servicing.killed, servicing.killedState = runKilledDuringBuild()
	fmt.Fprintf(os.Stderr, "run of 6.12.118, killed after %s (%s):\n%s\n", time.Since(start).Round(time.Second), servicing.killedState, servicing.killed)
	start = time.Now()
	runOut, runErr = kbuild(context.Background(), "run", "--profile", "smoke", "--work-dir", workDir)
	fmt.Fprintf(os.Stderr, "resumed run of 6.12.118 took %s:\n%s\n", time.Since(start).Round(time.Second), runOut)
	servicing.manifest118, _ = manifest.Read(filepath.Join(workDir, "out/smoke/6.12.118.1/manifest.json"))

	// A point release pulled: kernel.org withdraws 6.12.118 and the next run, in the same work
	// dir, builds 6.12.117 again; then 6.12.118 is back.
	for _, step := range []struct {
		newest bool
		out    *string
		err    *error
		m      **manifest.Manifest
		v      string
	}{{false, &servicing.back, &servicing.backErr, &servicing.backManifest, "6.12.117.1"}, {true, &servicing.forth, &servicing.forthErr, &servicing.forthManifest, "6.12.118.1"}} {
		if err := stageKernelOrg(real, staged, step.newest); err != nil {
			runErr = err
			return
		}
		start = time.Now()
		*step.out, *step.err = kbuild(context.Background(), "run", "--profile", "smoke", "--work-dir", workDir)
		*step.m, _ = manifest.Read(filepath.Join(workDir, "out/smoke", step.v, "manifest.json"))
		fmt.Fprintf(os.Stderr, "run of %s after a newer one took %s:\n%s\n", step.v, time.Since(start).Round(time.Second), *step.out)
	}
	start = time.Now()
	servicing.noop, servicing.noopErr = kbuild(context.Background(), "run", "--profile", "smoke", "--work-dir", workDir)
	servicing.noopTook = time.Since(start)
	servicing.noopManifest, _ = manifest.Read(filepath.Join(workDir, "out/smoke/6.12.118.1/manifest.json"))
	fmt.Fprintf(os.Stderr, "run with nothing changed took %s\n", servicing.noopTook.Round(time.Millisecond))
	servicing.status, _ = kbuild(context.Background(), "status", "--json", "--profile", "smoke", "--work-dir", workDir)
}

// The servicing loop: check sees nothing built, run builds 6.12.117 and boots it, check is
// then satisfied; kernel.org gains 6.12.118, check sees it, a run is killed during its build and
// the next run finishes it, fetching only what is new, moving the source tree in place and
// building incrementally; a run after that does nothing, and status says all is up to date.
func TestServicingInLockStep(t *testing.T) {
	s := servicing
	if s.code117 != 0 || !strings.Contains(s.check117, "upstream 6.12.117; nothing built yet") {
		t.Errorf("check before any build: exit %d\n%s", s.code117, s.check117)
	}
	if s.err117 != nil || !strings.Contains(s.run117, "init reports 6.12.117.1-microsoft-standard-WSL2") {
		t.Fatalf("run of 6.12.117: %v\n%s", s.err117, s.run117)
	}
	if s.codeAfter117 != 3 || !strings.Contains(s.checkAfter117, "upstream 6.12.117; last build 6.12.117: up to date") {
		t.Errorf("check after building 6.12.117: exit %d\n%s", s.codeAfter117, s.checkAfter117)
	}
	if s.code118 != 0 || !strings.Contains(s.check118, "upstream 6.12.118 is newer than the last build (6.12.117)") {
		t.Errorf("check once kernel.org has 6.12.118: exit %d\n%s", s.code118, s.check118)
	}

	// The killed run: it fetched only what 6.12.118 adds, moved the tree, and died in the build.
	if !strings.Contains(s.killedState, "signal: killed") {
		t.Errorf("the run to kill ended %q, not killed:\n%s", s.killedState, s.killed)
	}
	// The mirror is kept between runs of the suite: the first on a machine fetches only what
	// 6.12.118 adds, later ones find it there already (upstream's TestNextPointReleaseFetchesOnlyWhatIsNew
	// checks the incremental fetch on its own).
	if !strings.Contains(s.killed, "only what is new since the mirror's last release") && !strings.Contains(s.killed, ", already in the mirror") {
		t.Errorf("the killed run's fetch was neither incremental nor from the mirror:\n%s", s.killed)
	}
	if !strings.Contains(s.killed, "(updated ") {
		t.Errorf("the killed run did not move the source tree in place:\n%s", s.killed)
	}
	// The resumed run skipped what the killed one finished and built the rest.
	if runErr != nil {
		t.Fatalf("the resumed run: %v\n%s", runErr, runOut)
	}
	for _, want := range []string{"patch              up to date", "configure [x86_64] up to date", "configure [arm64]  up to date", "branch             up to date"} {
		if !strings.Contains(runOut, want) {
			t.Errorf("the resumed run did not reuse the killed run's stages (%q):\n%s", want, runOut)
		}
	}
	// Incremental: each build ran far fewer commands than a build from an empty tree.
	for _, b := range manifestRun.Builds {
		data, _ := os.ReadFile(filepath.Join(workDir, "build/smoke", b.Arch, ".wslkernel-commands"))
		fresh, _ := strconv.Atoi(strings.TrimSpace(string(data)))
		if fresh == 0 || b.Commands > fresh/4 {
			t.Errorf("%s: the 6.12.118 build ran %d commands; a build from an empty tree runs %d", b.Arch, b.Commands, fresh)
		}
	}

	// Nothing changed: every stage but the upstream check is skipped.
	if s.noopErr != nil {
		t.Fatalf("run with nothing changed: %v\n%s", s.noopErr, s.noop)
	}
	t.Logf("a run with nothing changed took %s", s.noopTook.Round(time.Millisecond))
	m := s.noopManifest
	if m == nil {
		t.Fatal("no manifest after the run with nothing changed")
	}
	for _, st := range m.Stages {
		want := "skipped"
		if st.Name == "fetch" {
			want = "ok" // upstream is asked on every run
		}
		if st.Status != want {
			t.Errorf("run with nothing changed: stage %s %s is %s, want %s", st.Name, st.Arch, st.Status, want)
		}
	}
	var status struct {
		UpToDate bool `json:"up_to_date"`
		Stages   []struct{ Name, Arch, State string }
	}
	if err := json.Unmarshal([]byte(s.status), &status); err != nil || !status.UpToDate || len(status.Stages) < 10 {
		t.Errorf("kbuild status --json: %v\n%s", err, s.status)
	}
}

// A point release pulled (kernel.org's releases.json offers 6.12.117 again after 6.12.118 was
// built): the run in the same work dir builds 6.12.117, with 6.12.117's release and the very bytes
// of the first 6.12.117 build; once 6.12.118 is back, its bytes are those of its first build.
func TestStepBackToAPulledPointRelease(t *testing.T) {
	s := servicing
	for _, step := range []struct {
		v, out  string
		err     error
		got, at *manifest.Manifest
	}{{"6.12.117", s.back, s.backErr, s.backManifest, s.manifest117}, {"6.12.118", s.forth, s.forthErr, s.forthManifest, s.manifest118}} {
		if step.err != nil || step.got == nil || step.at == nil {
			t.Fatalf("run of %s after a newer one: %v (manifest %v, first %v)\n%s", step.v, step.err, step.got != nil, step.at != nil, step.out)
		}
		release := step.v + ".1-microsoft-standard-WSL2"
		if step.got.KernelRelease != release || strings.Count(step.out, "init reports "+release) != 2 {
			t.Errorf("run of %s after a newer one: release %s, want %s booted on both arches:\n%s", step.v, step.got.KernelRelease, release, step.out)
		}
		first := map[string]string{}
		for _, o := range step.at.Outputs {
			first[o.Name+" "+o.Arch+" "+o.Path] = o.SHA256
		}
		compared := 0
		for _, o := range step.got.Outputs {
			if o.Name != "kernel" && o.Name != "modules" && o.Name != "config" {
				continue
			}
			compared++
			if was := first[o.Name+" "+o.Arch+" "+o.Path]; was != o.SHA256 {
				t.Errorf("%s %s [%s] after a step back: %s, the first build of %s gave %s", step.v, o.Name, o.Arch, o.SHA256, step.v, was)
			}
		}
		if compared < 6 {
			t.Errorf("run of %s after a newer one: %d kernels, modules disks and configs to compare, want 6", step.v, compared)
		}
	}
}

// kbuild install puts the shared run's kernel and modules.vhdx into a folder standing for the
// Windows home and points .wslconfig at them, keeping the user's other settings and a backup.
func TestInstallIntoAWindowsHome(t *testing.T) {
	if manifestRun == nil || manifestRun.Status != "ok" {
		t.Skip("no shared run")
	}
	home := t.TempDir()
	mine := "[wsl2]\r\nmemory=8GB\r\nkernel=C:\\\\Users\\\\ada\\\\old-kernel\r\n\r\n[experimental]\r\nsparseVhd=true\r\n"
	os.WriteFile(filepath.Join(home, ".wslconfig"), []byte(mine), 0o644)
	out, err := kbuild(context.Background(), "install", "--profile", "smoke", "--work-dir", workDir,
		"--windows-home", home, "--windows-path", `C:\Users\ada`)
	if err != nil {
		t.Fatalf("kbuild install: %v\n%s", err, out)
	}
	dir := filepath.Join(home, "wsl-kernel", manifestRun.Version)
	for _, name := range []string{"kernel", "modules.vhdx"} {
		want, _ := os.ReadFile(filepath.Join(filepath.Dir(manifestAt), "x86_64", name))
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(want) == 0 || string(got) != string(want) {
			t.Errorf("%s in the Windows home differs from the build (%v)", name, err)
		}
	}
	wslconfig, _ := os.ReadFile(filepath.Join(home, ".wslconfig"))
	want := "[wsl2]\r\nmemory=8GB\r\nkernel=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel\r\n" +
		"kernelModules=C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\modules.vhdx\r\n\r\n[experimental]\r\nsparseVhd=true\r\n"
	if string(wslconfig) != want {
		t.Errorf(".wslconfig =\n%q\nwant\n%q", wslconfig, want)
	}
	backups, _ := filepath.Glob(filepath.Join(home, ".wslconfig.bak-*"))
	if len(backups) != 1 {
		t.Fatalf("backups: %v", backups)
	}
	if old, _ := os.ReadFile(backups[0]); string(old) != mine {
		t.Errorf("the backup holds %q, want the user's file", old)
	}
}

// The publish job of the CI workflow, on the real kernel: kbuild assemble in a work dir of its
// own (as on a fresh runner) derives the same release branch itself, takes the arches' outputs
// from the run's folder with their hashes checked, and packages them.
func TestAssembleInAFreshWorkDirMakesTheSameRelease(t *testing.T) {
	if manifestRun == nil || manifestRun.Status != "ok" {
		t.Skip("no shared run")
	}
	work := t.TempDir()
	out, err := kbuild(context.Background(), "assemble", "--profile", "smoke", "--work-dir", work, filepath.Dir(manifestAt))
	if err != nil {
		t.Fatalf("kbuild assemble: %v\n%s", err, out)
	}
	m, err := manifest.Read(filepath.Join(work, "out/smoke/6.12.118.1/manifest.json"))
	if err != nil {
		t.Fatal(err)
	}
	if m.BranchHead != manifestRun.BranchHead {
		t.Errorf("assemble's branch head %s, the run's %s: the branch is not a function of the inputs", m.BranchHead, manifestRun.BranchHead)
	}
	sha := map[string]string{}
	payloads := 0
	for _, o := range m.Outputs {
		sha[o.Name+"/"+o.Arch] = o.SHA256
		if o.Name == "payload" {
			payloads++
		}
	}
	for _, o := range manifestRun.Outputs {
		if o.Name != "payload" && sha[o.Name+"/"+o.Arch] != o.SHA256 {
			t.Errorf("assembled %s/%s: sha256 %s, the run's %s", o.Name, o.Arch, sha[o.Name+"/"+o.Arch], o.SHA256)
		}
	}
	if payloads < 5 || len(m.Boots) != 2 {
		t.Errorf("assembled release: %d payloads, boots %+v\n%s", payloads, m.Boots, out)
	}
}

// The enthusiast's path on the real kernel: kbuild custom adds a module to the smoke line, the
// kernel boots and says +custom, and an option whose dependencies are missing is refused
// naming the flag's line and the unmet dependency.
func TestCustomKernelOnTheSmokeLine(t *testing.T) {
	if runErr != nil {
		t.Skip("the shared run failed")
	}
	work := filepath.Join(cacheDir, "e2e-custom-work") // kept between runs, as an enthusiast's is
	out, err := kbuild(context.Background(), "custom", "--profile", "smoke", "--arch", "x86_64", "--enable", "CRC_CCITT=m", "--work-dir", work)
	if err != nil {
		t.Fatalf("kbuild custom: %v\n%s", err, out)
	}
	for _, want := range []string{"init reports 6.12.118.1-microsoft-standard-WSL2+custom", "2 modules in modules.vhdx", "kbuild install --profile custom"} {
		if !strings.Contains(out, want) {
			t.Errorf("kbuild custom output lacks %q:\n%s", want, out)
		}
	}
	// The custom kernel's trees sit as the smoke line's do (custom/src/smoke, custom/build/smoke),
	// so the compilations its one option leaves alone come from the smoke build of 6.12.118 the
	// shared run made in this suite, through the suite's ccache.
	if m := regexp.MustCompile(`ccache (\d+) hits, (\d+) misses`).FindStringSubmatch(out); m == nil {
		t.Errorf("kbuild custom does not report its ccache hits:\n%s", out)
	} else if hits, _ := strconv.Atoi(m[1]); hits < 800 {
		t.Errorf("kbuild custom got %s compilations from the cache and compiled %s: the smoke line's build was not shared", m[1], m[2])
	}
	config, _ := os.ReadFile(filepath.Join(work, "out/custom/6.12.118.1/x86_64/config"))
	if !strings.Contains(string(config), "CONFIG_CRC_CCITT=m\n") || !strings.Contains(string(config), "CONFIG_CRC_ITU_T=m\n") {
		t.Errorf("the custom config lacks the profile's module or the added one")
	}

	bad := t.TempDir()
	out, err = kbuild(context.Background(), "custom", "--profile", "smoke", "--arch", "x86_64", "--enable", "NFS_FS", "--work-dir", bad)
	if err == nil {
		t.Fatalf("kbuild custom --enable NFS_FS on a kernel without networking succeeded:\n%s", out)
	}
	for _, want := range []string{filepath.Join(bad, "custom.config") + ":3: CONFIG_NFS_FS=y was requested", "depends on", "unmet"} {
		if !strings.Contains(out, want) {
			t.Errorf("the refusal lacks %q:\n%s", want, out)
		}
	}
}
