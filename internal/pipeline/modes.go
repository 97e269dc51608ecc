package pipeline

import "strings"

// mode is a way of walking the stage table: one bit per command, and a row's `in` says which
// walk it.
type mode uint

const (
	inRun       mode = 1 << iota // kbuild run: every stage, through the cache
	inAssemble                   // kbuild assemble: the arches' builds come from other runs
	inFetch                      // kbuild fetch: the source tree only
	inConfigure                  // kbuild configure: up to each arch's .config
	inVerify                     // kbuild verify: a clean rebuild elsewhere, nothing booted
	inRefresh                    // kbuild patches refresh: the release, then the series rewritten
	inStatus                     // kbuild status: every key compared, nothing run
	inPlan                       // kbuild plan: every stage described, nothing run
	inBoot                       // kbuild boot: the last run's outputs booted again
	inPackage                    // kbuild package: the last run's outputs packaged again

	everyWalk = inRun | inAssemble | inFetch | inConfigure | inVerify | inRefresh | inStatus | inPlan | inBoot | inPackage
	// building are the modes that build: the build stages' rows.
	building = inRun | inVerify | inStatus | inPlan
)

var modeNames = map[mode]string{inRun: "run", inAssemble: "assemble", inFetch: "fetch", inConfigure: "configure",
	inVerify: "verify", inRefresh: "patches refresh", inStatus: "status", inPlan: "plan", inBoot: "boot", inPackage: "package"}

func (m mode) String() string {
	var names []string
	for bit, name := range modeNames {
		if m&bit != 0 {
			names = append(names, name)
		}
	}
	return strings.Join(names, "|")
}

// rows are the stages this run's mode walks, in table order.
func (r *run) rows() []*stage {
	var rows []*stage
	for _, s := range stages {
		if s.in&r.mode != 0 {
			rows = append(rows, s)
		}
	}
	return rows
}
