package pipeline

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Stage names, as the table, the records and the cache keys spell them.
const (
	stFetch       = "fetch"
	stPatch       = "patch"
	stConfigure   = "configure"
	stBranch      = "branch"
	stBuild       = "build"
	stModules     = "modules"
	stHeaders     = "headers"
	stInitrd      = "initrd"
	stBoot        = "boot"
	stConformance = "conformance"
	stAssemble    = "assemble"
	stPackage     = "package"
)

// Output names: the files a stage makes for an arch (or the release's payload), as the manifest
// names them. Each is declared by one row's outputs (TestTheStageTableHolds).
const (
	outKernel     = "kernel"
	outConfig     = "config"
	outModules    = "modules"
	outModulesVHD = "modules-vhd"
	outArtifacts  = "artifacts" // artifacts.vhd, with package.modules_disk: artifacts
	outHeaders    = "headers"
	outInitrd     = "initrd"
	outPayload    = "payload"
)

// The stage table: the pipeline as data. Every command walks these rows in order, in its own
// mode (modes.go): run executes them through the cache, status compares their keys with the last
// run's, plan prints what each would do. A row's body lives in the file named after it
// (stage_<name>.go); adding a stage is one such file and one row here.
var stages = []*stage{
	{name: stFetch, in: everyWalk &^ (inStatus | inBoot | inPackage), restore: fetchRestore, body: fetchBody, describe: describeFetch},
	{name: stPatch, after: []string{stFetch}, in: everyWalk &^ (inRefresh | inBoot | inPackage), ships: true,
		declares: patchDeclares, derives: patchDerives, intact: patchIntact, restore: patchRestore, body: patchBody, describe: describePatch},
	{name: stConfigure, perArch: true, everyArch: true, after: []string{stPatch}, in: building | inConfigure | inAssemble, ships: true,
		declares: configureDeclares, derives: configureDerives, intact: configureIntact, restore: configureRestore, body: configureBody, describe: describeConfigure, rehearse: rehearseConfigure},
	{name: stBranch, after: []string{stConfigure}, in: inRun | inAssemble | inVerify | inStatus | inPlan, ships: true,
		derives: branchDerives, intact: branchIntact, restore: branchRestore, body: branchBody, describe: describeBranch, rehearse: savedefconfigs},
	{name: stBuild, perArch: true, parallel: true, after: []string{stPatch, stConfigure}, in: building, ships: true,
		declares: buildDeclares, derives: buildDerives, outputs: []string{outKernel, outConfig}, restore: buildRestore, body: buildBody, describe: describeBuild, rehearse: makeImage},
	{name: stModules, perArch: true, parallel: true, after: []string{stBuild}, in: building, ships: true, applies: hasModules,
		declares: modulesDeclares, derives: modulesDerives, outputs: []string{outModules, outModulesVHD, outArtifacts}, restore: modulesRestore, body: modulesBody, describe: describeModules, rehearse: rehearseModules},
	{name: stHeaders, perArch: true, parallel: true, after: []string{stBuild}, in: building, ships: true, applies: wantsHeaders,
		derives: headersDerives, outputs: []string{outHeaders}, body: headersBody, describe: describeHeaders, rehearse: rehearseHeaders},
	{name: stInitrd, perArch: true, parallel: true, in: building, // a test artifact: never shipped
		declares: initrdDeclares, derives: initrdDerives, outputs: []string{outInitrd}, body: initrdBody, describe: describeInitrd, rehearse: rehearseInitrd},
	{name: stBoot, perArch: true, parallel: true, light: true, after: []string{stBuild, stModules, stInitrd}, in: (building | inBoot) &^ inVerify,
		declares: bootDeclares, derives: bootDerives, restore: bootRestore, body: bootBody, describe: describeBoot, rehearse: rehearseBoot},
	{name: stConformance, perArch: true, parallel: true, light: true, after: []string{stBuild, stModules}, in: inRun | inStatus | inPlan, applies: wantsConformance,
		declares: conformanceDeclares, derives: conformanceDerives, restore: conformanceRestore, body: conformanceBody,
		describe: describeConformance, rehearse: rehearseConformance},
	{name: stAssemble, perArch: true, after: []string{stBranch}, in: inAssemble, body: assembleBody},
	{name: stPackage, after: []string{stBoot, stConformance, stAssemble}, in: inRun | inAssemble | inVerify | inStatus | inPlan | inPackage, ships: true, applies: packages,
		declares: packageDeclares, derives: packageDerives, outputs: []string{outPayload}, body: packageBody, describe: describePackage},
}

// stage is one row of the table.
type stage struct {
	name string
	// perArch: the stage runs once per arch; everyArch: for every arch of the plan, even when
	// the run builds fewer (--arch); parallel: arches may run it at the same time.
	perArch, everyArch, parallel bool
	// light: the stage keeps one core busy at most (qemu's one emulated CPU thread), so on a
	// machine too small to build arches side by side, the next arch compiles beside it.
	light bool
	after []string // the stages whose results it reads
	in    mode     // the modes that walk it
	// ships: its inputs shape what is released, so they go into the release's InputsDigest.
	ships bool
	// applies says whether the stage has anything to do; when not, why (or "" to say nothing).
	applies func(r *run, ar *archRun) (bool, string)
	// declares lists what the stage reads from pipeline.yaml and the repository, known before
	// anything runs; derives what it reads from the stages before it (the upstream commit, their
	// outputs, tool versions). Together they are its cache key; an error from declares leaves
	// the stage without a key, so it runs and reports the error.
	declares func(l *config.Line, arch string) (inputs, error)
	derives  func(ctx context.Context, r *run, ar *archRun) inputs
	// outputs are the manifest names of the files it makes for its arch.
	outputs []string
	// intact checks what the stage left outside the output folder (a .config, a branch ref, a
	// source tree) is still as the last run's record says; nil: nothing to check.
	intact func(ctx context.Context, r *run, ar *archRun, rec manifest.Stage) bool
	// restore takes into the state what a skipped stage found out, from the last run's record.
	restore func(r *run, ar *archRun, prev *manifest.Manifest, rec manifest.Stage) error
	// body does the work. It changes the state and returns what it made; it never writes the
	// manifest.
	body func(ctx context.Context, r *run, ar *archRun) (outcome, error)
	// describe is what kbuild plan prints for it; rehearse hands the programs the body would run
	// to the run's Runner, which in plan is runner.DryRun: plan prints the very command lines.
	describe func(p *Plan, a kbuild.Arch) string
	rehearse func(ctx context.Context, r *run, ar *archRun) error
}

// outcome is what a stage body returns to the executor.
type outcome struct {
	detail  string
	product string          // what it left outside the output folder (manifest.Stage.Product)
	outputs []manifest.File // files it made, their paths relative to the output folder
	carried []manifest.Stage
}

// label is how a stage is named in output: "build [x86_64]".
func (s *stage) label(ar *archRun) string {
	if ar == nil {
		return s.name
	}
	return s.name + " [" + ar.a.Name + "]"
}

// stageNamed is the table's row of that name. The names it is asked for are the table's own
// (checkTable), so a miss is a programming error, named as such.
func stageNamed(name string) *stage {
	i := slices.IndexFunc(stages, func(s *stage) bool { return s.name == name })
	if i < 0 {
		panic(fmt.Sprintf("pipeline: no stage named %q in the table", name))
	}
	return stages[i]
}

// checkTable is what the table promises its readers: names are unique, every row has a body,
// every "after" names an earlier row, a row plan walks says what it would do, and each output
// name is made by one row.
func checkTable(rows []*stage) error {
	var errs []error
	seen := map[string]bool{}
	made := map[string]string{}
	for i, s := range rows {
		row := fmt.Sprintf("row %d (%s)", i+1, s.name)
		if s.name == "" || seen[s.name] {
			errs = append(errs, fmt.Errorf("%s: the name is empty or taken by an earlier row", row))
		}
		if s.body == nil {
			errs = append(errs, fmt.Errorf("%s: no body", row))
		}
		if s.in&inPlan != 0 && s.describe == nil {
			errs = append(errs, fmt.Errorf("%s: kbuild plan walks it, and it has no describe", row))
		}
		for _, a := range s.after {
			if !seen[a] {
				errs = append(errs, fmt.Errorf("%s: after %q, which is no earlier row", row, a))
			}
		}
		for _, o := range s.outputs {
			if by, ok := made[o]; ok {
				errs = append(errs, fmt.Errorf("%s: output %q is made by %s too", row, o, by))
			}
			made[o] = s.name
		}
		seen[s.name] = true
	}
	return errors.Join(errs...)
}

// comesAfter reports whether s reads, directly or through the stages it reads, what earlier makes.
func (s *stage) comesAfter(earlier string) bool {
	for _, a := range s.after {
		if a == earlier || stageNamed(a).comesAfter(earlier) {
			return true
		}
	}
	return false
}

// keyInputs are the stage's cache key inputs now; nil when it has none (it always runs). An
// arch's stage leaves its key on the arch, for the stages after it to build on.
func (r *run) keyInputs(ctx context.Context, s *stage, ar *archRun) inputs {
	in := inputs{}
	if s.declares != nil {
		declared, err := s.declares(r.plan.Line, archName(ar))
		if err != nil {
			return nil
		}
		in.add(declared)
	}
	if s.derives != nil {
		in.add(s.derives(ctx, r, ar))
	}
	if len(in) == 0 {
		return nil
	}
	if ar != nil {
		ar.keys[s.name] = in.key()
	}
	return in
}

func archName(ar *archRun) string {
	if ar == nil {
		return ""
	}
	return ar.a.Name
}
