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

// ReadStatus works out the status without building, fetching or changing anything: it reads the
// last run's manifest of the planned version and walks the stage table comparing each stage's
// inputs, recomputed from the files as they are now (the work dir's source and build trees,
// pipeline.yaml, configs/, patches/), with the recorded ones.
func ReadStatus(ctx context.Context, p *Plan, opts Options) (*Status, error) {
	r := newRun(p, opts, inStatus) // the compiler's and Go's versions are inputs: the real runner
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
	// A walk that restores every stage from the last run's record sees what a real run would:
	// the rows it does not walk (fetch) are taken up first, the others as it walks them.
	r.prev = prev
	r.resume(prev, slices.DeleteFunc(slices.Clone(stages), func(s *stage) bool { return s.in&r.mode != 0 }))
	c := &statusCheck{r: r, st: st}
	if err := r.walk(ctx, c.visit); err != nil {
		return nil, err
	}
	st.UpToDate = len(c.stale) == 0
	return st, nil
}

// statusCheck compares one stage after another with the last run's record.
type statusCheck struct {
	r     *run
	st    *Status
	stale []staleStage // the stale stages so far, in order
}

type staleStage struct {
	s    *stage
	arch string
}

// visit compares one stage, restores its record for the stages after it, and says whether it
// would run again: because what it reads changed, its outputs did, or a stage it reads from is stale.
func (c *statusCheck) visit(ctx context.Context, s *stage, ar *archRun) error {
	r := c.r
	ss := StageStatus{Name: s.name, Arch: archName(ar)}
	in := r.keyInputs(ctx, s, ar)
	rec := stageRecord(r.prev, s.name, ss.Arch)
	switch {
	case rec == nil:
		ss.State, ss.Why = "not run", []string{"the last run stopped before it"}
	case rec.Status == "failed":
		ss.State, ss.Why = "failed", []string{firstLine(rec.Detail)}
	default:
		if why := changedInputs(rec.Inputs, in); len(why) > 0 {
			ss.State, ss.Why = "stale", why
		} else if _, ok := r.reusable(ctx, s, ar, in); !ok {
			ss.State, ss.Why = "stale", []string{"its outputs are gone or changed since " + rec.Started.Format("2006-01-02 15:04")}
		} else {
			ss.State = "up to date"
		}
		r.carry(r.prev, s, ar, *rec) // what a real run would see after it, stale or not
	}
	if ss.State == "up to date" {
		if e := c.staleBefore(s, ss.Arch); e != "" {
			ss.State, ss.Why = "stale", []string{"after " + e + ", if that changes what it reads"}
		}
	}
	if ss.State != "up to date" {
		c.stale = append(c.stale, staleStage{s, ss.Arch})
	}
	c.st.Stages = append(c.st.Stages, ss)
	return nil
}

// staleBefore names the first stale stage that s reads from (of its arch, or not an arch's).
func (c *statusCheck) staleBefore(s *stage, arch string) string {
	for _, e := range c.stale {
		if s.comesAfter(e.s.name) && (arch == "" || e.arch == "" || e.arch == arch) {
			return e.s.label(c.r.archNamed(e.arch))
		}
	}
	return ""
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
		line := fmt.Sprintf("  %-*s %s", labelWidth, label, ss.State)
		if len(ss.Why) > 0 {
			line += ": " + strings.Join(ss.Why, "; ")
		}
		fmt.Fprintln(w, line)
	}
	if s.UpToDate {
		fmt.Fprintf(w, "everything is up to date: run would only check upstream\n")
	}
}
