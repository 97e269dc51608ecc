package pipeline

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// run is one walk of the stage table (stages.go) in one mode: the plan, where things go, the
// typed state the stages hand on to each other, and the manifest that reports it. Stages read
// and write the state; only the executor (executor.go) writes the manifest, from the state.
type run struct {
	plan *Plan
	opts Options
	mode mode
	st   state
	m    *manifest.Manifest
	// arches are every arch of the plan; built are those this run builds (opts.Arches).
	arches, built []*archRun
	// ccacheDir is CCACHE_DIR for the builds; empty for ccache's default. kbuild verify uses a
	// cache of its own, so its build never reuses an object compiled in the run's directories.
	ccacheDir string
	// keepRefs leaves the mirror's branch ref where the last run put it (kbuild verify rebuilds
	// the same patches, but must not move the branch that is published).
	keepRefs bool
	// mu guards the state and the manifest while arches build in parallel.
	mu sync.Mutex
	// parallel is set while arches build at the same time.
	parallel bool
	// prev is the last run of this version (its manifest in the output folder, if any): the
	// stages it finished with the same keys are skipped and their state restored from it.
	prev *manifest.Manifest
	// manifestPath is where the manifest is written after every stage; empty: not before the end.
	manifestPath string
	// tools holds the versions of the programs asked so far (toolVersion), by command line.
	tools map[string]string
	// parts are the output folders kbuild assemble gathers the arches from.
	parts []string
}

// state is what the stages find out and later stages read: typed, so no stage reads the
// manifest. A skipped stage restores its part from the last run's record.
type state struct {
	upstream manifest.Upstream // fetch: the commit, its time, the signer
	pristine string            // fetch (tarball source): the verified, unpacked release
	src      string            // patch: the source tree
	// patch: where the branch is kept and its head after the series; branch: its final head.
	branchRef, patchesHead, branchHead string
	patches                            []manifest.Patch
	outputs                            []manifest.File // every stage's outputs, in order
}

// archRun is one arch's part of the run: its O= tree, output folder and log, and what its
// stages found out.
type archRun struct {
	a       kbuild.Arch
	tree    *kbuild.Tree
	out     string
	logPath string
	log     io.WriteCloser
	final   *kconfig.Config // configure: the .config it made
	build   *manifest.Build // build: its record
	boot    *manifest.Boot  // boot: the boot test's record
	// conformance: the conformance boot's record (also when a probe failed)
	conformance *manifest.Conformance
	// modules: its record: modules.vhdx (when the config has modules), the module the boot test
	// loads from it, and the digest of the installed modules tree.
	vhdx, module, modulesDigest string
	// keys are the cache keys of this arch's stages so far, which the stages after them build on.
	keys map[string]string
	// console takes the arch's lines while arches overlap (overlapped); nil: the run's Out.
	console io.Writer
}

// commitTS is the upstream commit's time: the time stamped on everything built from it.
func (s *state) commitTS() time.Time { return s.upstream.CommitTime }

// sourceID names the source tree's contents: the branch's patch commit, or the tarball tree.
func (s *state) sourceID() string {
	if s.patchesHead != "" {
		return s.patchesHead
	}
	return s.src
}

// newArch is an arch's build tree and output paths, touching nothing on disk.
func (r *run) newArch(a kbuild.Arch) *archRun {
	l := r.plan.Line
	ar := &archRun{a: a, out: filepath.Join(r.plan.OutDir, a.Name), keys: map[string]string{}, log: nopLog{}}
	ar.logPath = filepath.Join(ar.out, "build.log")
	ar.tree = &kbuild.Tree{
		Out:          BuildDir(r.opts.WorkDir, l, a.Name),
		Arch:         a,
		Jobs:         r.opts.Jobs,
		Wrapper:      l.Profile.Build.Wrapper,
		ExtraVersion: r.plan.Version.ExtraVersion(),
		CcacheLog:    filepath.Join(ar.out, "ccache.log"),
		CcacheDir:    r.ccacheDir,
		DistccHosts:  l.Profile.Build.DistccHosts,
		Runner:       r.opts.Runner,
	}
	if ar.tree.Jobs == 0 {
		ar.tree.Jobs = l.Profile.Build.Jobs
	}
	return ar
}

// openLog prepares an arch's output folder and appends to its build log: a run that skips the
// build keeps the log of the one that made it. The tree learns the source and time it builds.
func (r *run) openLog(ar *archRun) error {
	ar.tree.Src, ar.tree.Timestamp = r.st.src, r.st.commitTS()
	if _, ok := ar.log.(*os.File); ok {
		return nil
	}
	if err := os.MkdirAll(ar.out, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(ar.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(f, "#### kbuild %s, %s\n", r.mode, time.Now().UTC().Format(time.RFC3339))
	ar.log = f
	return nil
}

// close closes the arches' logs.
func (r *run) close() {
	for _, ar := range r.arches {
		ar.log.Close()
	}
}

// nopLog stands for an arch's log before the run opens it.
type nopLog struct{}

func (nopLog) Write(b []byte) (int, error) { return len(b), nil }
func (nopLog) Close() error                { return nil }

// record changes the state or the manifest; arches building in parallel take turns.
func (r *run) record(change func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	change()
}

// report writes the state into the manifest: what the run reports is what its stages found.
// Called by the executor, under r.mu.
func (r *run) report() {
	m, s := r.m, &r.st
	m.Upstream.Commit, m.Upstream.CommitTime = s.upstream.Commit, s.upstream.CommitTime
	m.Upstream.Signer, m.Upstream.Unsigned = s.upstream.Signer, s.upstream.Unsigned
	if s.upstream.GitURL != "" {
		m.Upstream.GitURL = s.upstream.GitURL
	}
	m.BranchRef, m.PatchesHead, m.BranchHead, m.SourceTree = s.branchRef, s.patchesHead, s.branchHead, s.src
	m.Patches = s.patches
	if r.mode&(inRun|inAssemble) != 0 {
		m.Reproducer = r.reproducer()
	}
	m.Outputs = s.outputs
	m.Builds, m.Boots, m.Conformance = nil, nil, nil
	for _, ar := range r.arches {
		if ar.build != nil {
			b := *ar.build
			// The modules stage's record, kept in the build's entry as manifests always have.
			b.ModulesDigest, b.BootModule = ar.modulesDigest, ar.module
			m.Builds = append(m.Builds, b)
		}
		if ar.boot != nil {
			m.Boots = append(m.Boots, *ar.boot)
		}
		if ar.conformance != nil {
			m.Conformance = append(m.Conformance, *ar.conformance)
		}
	}
}

// reproducer is how to run this again, and how to build each arch by hand.
func (r *run) reproducer() string {
	l := r.plan.Line
	text := fmt.Sprintf("kbuild %s --config %s --profile %s", r.mode, l.Pipeline.File, l.Name)
	for _, ar := range r.arches {
		if ar.tree.Src != "" {
			text += fmt.Sprintf("\n# %s build by hand: %s make %s", ar.a.Name, strings.Join(ar.tree.Env(), " "), strings.Join(ar.tree.Args(ar.a.Image), " "))
		}
	}
	return text
}

// resume takes a run's record into this one as a run that found every stage up to date would:
// each row the record holds a finished stage of restores its state and carries its outputs, in
// the table's order. kbuild boot and package work on what the last run made this way, and
// status on the rows it does not walk; a row's restore is the one way from a record into state.
func (r *run) resume(m *manifest.Manifest, rows []*stage) error {
	for _, s := range rows {
		arches := []*archRun{nil}
		if s.perArch {
			arches = r.arches
		}
		for _, ar := range arches {
			rec := stageRecord(m, s.name, archName(ar))
			if rec == nil || rec.Status == "failed" {
				continue
			}
			if err := r.carry(m, s, ar, *rec); err != nil {
				return fmt.Errorf("taking up the last run's %s: %w", s.label(ar), err)
			}
		}
	}
	// The outputs in the record's order, whichever order the rows carried them in.
	order := func(f manifest.File) int {
		return slices.IndexFunc(m.Outputs, func(o manifest.File) bool { return o.Name == f.Name && o.Arch == f.Arch && o.Path == f.Path })
	}
	slices.SortStableFunc(r.st.outputs, func(a, b manifest.File) int { return order(a) - order(b) })
	return nil
}

// output describes a file (or folder) a stage produced, its path relative to the output folder.
func (r *run) output(name, arch, path string) (manifest.File, error) {
	f, err := manifest.Describe(name, arch, path)
	if err != nil {
		return f, err
	}
	if rel, err := filepath.Rel(r.plan.OutDir, path); err == nil {
		f.Path = rel
	}
	return f, nil
}

// outputKey is the SHA-256 this run recorded for an output, for the keys of the stages that read it.
func (r *run) outputKey(name, arch string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.st.outputs {
		if f.Name == name && f.Arch == arch {
			return f.SHA256
		}
	}
	return "none"
}

// outputKeys are the SHA-256 of every output this run recorded but the payloads, by
// "<name> <arch>".
func (r *run) outputKeys() inputs {
	r.mu.Lock()
	defer r.mu.Unlock()
	in := inputs{}
	for _, f := range r.st.outputs {
		if f.Name != outPayload {
			in[strings.TrimSpace(f.Name+" "+f.Arch)] = f.SHA256
		}
	}
	return in
}

// archNamed is the run's arch of that name, or nil.
func (r *run) archNamed(name string) *archRun {
	for _, ar := range r.arches {
		if ar.a.Name == name {
			return ar
		}
	}
	return nil
}
