package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Status is what kbuild status reports: upstream against the last release and build, and for the
// version a run would make now, each stage's state and, when it would run again, why.
type Status struct {
	Profile    string        `json:"profile"`
	Upstream   string        `json:"upstream"`             // the release a run would build now
	Version    string        `json:"version"`              // and the version it would make
	Revision   string        `json:"revision"`             // how the revision was chosen
	Released   string        `json:"released,omitempty"`   // the published release with these inputs
	LastBuilt  string        `json:"last_built,omitempty"` // the newest successful run in the work dir
	OutDir     string        `json:"out_dir"`
	RunStatus  string        `json:"run_status,omitempty"` // the manifest's: ok, failed, running (a run killed or under way)
	RunError   string        `json:"run_error,omitempty"`
	Stages     []StageStatus `json:"stages"`
	UpToDate   bool          `json:"up_to_date"` // a run now would skip every stage but the upstream check
	Unreadable string        `json:"published_unreadable,omitempty"`
}

// StageStatus is one stage of the version a run would make.
type StageStatus struct {
	Name  string `json:"name"`
	Arch  string `json:"arch,omitempty"`
	State string `json:"state"` // up to date, stale, not run, failed
	// Why lists, for a stale stage, the inputs that changed ("fragment 1 configs/smoke.config
	// changed") or the outputs that are gone or altered; for one downstream of a stale stage,
	// that stage.
	Why []string `json:"why,omitempty"`
}

// stageOrder is the order a run goes through the stages; fetch is not listed (it asks upstream
// on every run).
var stageOrder = []string{"patch", "configure", "branch", "build", "modules", "headers", "initrd", "boot", "package"}

// ReadStatus works out the status without building, fetching or changing anything: it reads the
// last run's manifest of the planned version and recomputes each stage's inputs from the files
// as they are now (the work dir's source and build trees, pipeline.yaml, configs/, patches/).
func ReadStatus(ctx context.Context, p *Plan, opts Options) (*Status, error) {
	if opts.Out == nil {
		opts.Out = io.Discard
	}
	if opts.Runner == nil {
		opts.Runner = kbuild.Exec{} // the compiler's and Go's versions are inputs
	}
	st := &Status{Profile: p.Line.Name, Upstream: p.Release.String(), Version: p.Version.String(),
		Revision: p.Revision.Why, Released: p.Revision.Released, OutDir: p.OutDir}
	if p.Revision.Unknown != nil && !errors.Is(p.Revision.Unknown, errNoRemote) {
		st.Unreadable = p.Revision.Unknown.Error()
	}
	if m, _ := manifest.Previous(filepath.Dir(p.OutDir), p.Version); m != nil {
		st.LastBuilt = m.Version
	}
	prev, err := manifest.Read(filepath.Join(p.OutDir, "manifest.json"))
	if os.IsNotExist(err) {
		st.Stages = []StageStatus{{Name: "run", State: "not run", Why: []string{p.Version.String() + " has not been built in this work dir"}}}
		return st, nil
	}
	if err != nil {
		return nil, err
	}
	if prev.Status == "ok" {
		st.LastBuilt = prev.Version // newer than any Previous finds
	}
	st.RunStatus, st.RunError = prev.Status, prev.Error

	// A run that restores every stage from the last run's record sees what a real run would.
	r := &run{plan: p, opts: opts, prev: prev, m: &manifest.Manifest{Upstream: prev.Upstream, BranchRef: prev.BranchRef,
		PatchesHead: prev.PatchesHead, BranchHead: prev.PatchesHead, SourceTree: prev.SourceTree}}
	r.src, r.commitTS = prev.SourceTree, prev.Upstream.CommitTime
	if ps := stageRecord(prev, "patch", ""); ps != nil {
		r.pristine = ps.Inputs["tarball"]
	}
	var arches []*archRun
	for _, a := range p.Arches {
		arches = append(arches, r.archTree(a))
	}
	// check compares one stage, restores its record for the stages after it, and says whether
	// it would run again.
	var stale []string // the labels of the stale stages so far
	check := func(name, arch string, c cached) {
		ss := StageStatus{Name: name, Arch: arch}
		label := name
		if arch != "" {
			label += " [" + arch + "]"
		}
		rec := stageRecord(prev, name, arch)
		switch {
		case rec == nil:
			ss.State, ss.Why = "not run", []string{"the last run stopped before it"}
		case rec.Status == "failed":
			ss.State, ss.Why = "failed", []string{firstLine(rec.Detail)}
		default:
			if why := changedInputs(rec.Inputs, c.inputs); len(why) > 0 {
				ss.State, ss.Why = "stale", why
			} else if _, ok := r.reusable(name, arch, c); !ok {
				ss.State, ss.Why = "stale", []string{"its outputs are gone or changed since " + rec.Started.Format("2006-01-02 15:04")}
			} else {
				ss.State = "up to date"
			}
			if c.restore != nil {
				c.restore(prev, *rec)
			}
			r.m.Outputs = append(r.m.Outputs, r.prevOutputs(arch, c.outputs)...)
		}
		if ss.State == "up to date" {
			for _, earlier := range stale {
				if dependsOn(label, earlier) {
					ss.State, ss.Why = "stale", []string{"after " + earlier + ", if that changes what it reads"}
					break
				}
			}
		}
		if ss.State != "up to date" {
			stale = append(stale, label)
		}
		st.Stages = append(st.Stages, ss)
	}
	check("patch", "", r.patchCache(ctx))
	for _, ar := range arches {
		check("configure", ar.a.Name, r.configureCache(ctx, ar))
	}
	check("branch", "", r.branchCache(ctx, arches))
	for _, ar := range arches {
		check("build", ar.a.Name, r.buildCache(ctx, ar))
		if stageRecord(prev, "modules", ar.a.Name) != nil {
			check("modules", ar.a.Name, r.modulesCache(ar))
		}
		if p.Line.Profile.Build.Headers {
			check("headers", ar.a.Name, r.headersCache(ar))
		}
		check("initrd", ar.a.Name, r.initrdCache(ctx, ar.a))
		check("boot", ar.a.Name, r.bootCache(ar))
	}
	if len(p.Line.Profile.Package.Formats) > 0 {
		check("package", "", r.packageCache())
	}
	st.UpToDate = len(stale) == 0
	return st, nil
}

// dependsOn reports whether a stage (its label, "build [x86_64]") comes after an earlier stale
// one and may read what it makes: a later stage of the same arch, or any later stage when either
// is not an arch's. An arch's initrd reads neither the source nor the build.
func dependsOn(label, stale string) bool {
	name, arch, _ := strings.Cut(label, " ")
	staleName, staleArch, _ := strings.Cut(stale, " ")
	if name == "initrd" || slices.Index(stageOrder, name) <= slices.Index(stageOrder, staleName) {
		return false
	}
	return arch == "" || staleArch == "" || arch == staleArch
}

// changedInputs names what differs between a stage's recorded inputs and today's.
func changedInputs(was, now inputs) []string {
	var why []string
	for name, v := range now {
		old, ok := was[name]
		switch {
		case !ok:
			why = append(why, name+" is new")
		case old != v:
			why = append(why, name+" changed")
		}
	}
	for name := range was {
		if _, ok := now[name]; !ok {
			why = append(why, name+" is gone")
		}
	}
	sort.Strings(why)
	return why
}

func stageRecord(m *manifest.Manifest, name, arch string) *manifest.Stage {
	for i := range m.Stages {
		if m.Stages[i].Name == name && m.Stages[i].Arch == arch {
			return &m.Stages[i]
		}
	}
	return nil
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// Print writes the status for a person.
func (s *Status) Print(w io.Writer) {
	fmt.Fprintf(w, "profile   %s\n", s.Profile)
	fmt.Fprintf(w, "upstream  %s: %s, %s\n", s.Upstream, s.Version, s.Revision)
	if s.Unreadable != "" {
		fmt.Fprintf(w, "released  unknown (%s)\n", s.Unreadable)
	}
	if s.LastBuilt != "" {
		fmt.Fprintf(w, "built     %s is the newest successful build in this work dir\n", s.LastBuilt)
	}
	switch s.RunStatus {
	case "":
	case "running":
		fmt.Fprintf(w, "last run  of %s did not finish (stopped, or still running): run resumes it\n", s.Version)
	case "failed":
		fmt.Fprintf(w, "last run  of %s failed: %s\n", s.Version, firstLine(s.RunError))
	default:
		fmt.Fprintf(w, "last run  of %s: %s\n", s.Version, s.RunStatus)
	}
	for _, ss := range s.Stages {
		label := ss.Name
		if ss.Arch != "" {
			label += " [" + ss.Arch + "]"
		}
		line := fmt.Sprintf("  %-18s %s", label, ss.State)
		if len(ss.Why) > 0 {
			line += ": " + strings.Join(ss.Why, "; ")
		}
		fmt.Fprintln(w, line)
	}
	if s.UpToDate {
		fmt.Fprintf(w, "everything is up to date: run would only check upstream\n")
	}
}
