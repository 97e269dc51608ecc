package pipeline

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The executor: one walk of the table for every mode, and for the modes that run stages, one
// place that checks the cache, times, labels, prints, records and checkpoints.

// visitor is what a mode does with one stage (for one arch, or ar nil).
type visitor func(ctx context.Context, s *stage, ar *archRun) error

// walk visits the mode's rows in order. Consecutive per-arch rows form a group that each arch
// goes through in turn (arch by arch, or all at once for parallel rows on a big machine).
func (r *run) walk(ctx context.Context, visit visitor) error {
	rows := r.rows()
	for i := 0; i < len(rows); {
		j := i + 1
		for rows[i].perArch && j < len(rows) && rows[j].perArch && rows[j].everyArch == rows[i].everyArch {
			j++
		}
		if err := r.walkGroup(ctx, rows[i:j], visit); err != nil {
			return err
		}
		i = j
	}
	return nil
}

func (r *run) walkGroup(ctx context.Context, group []*stage, visit visitor) error {
	if !group[0].perArch {
		return r.visitIf(ctx, group[0], nil, visit)
	}
	arches := r.built
	if group[0].everyArch {
		arches = r.arches
	}
	each := func(ar *archRun) error {
		ar.tree.Src, ar.tree.Timestamp = r.st.src, r.st.commitTS()
		for _, s := range group {
			if err := r.visitIf(ctx, s, ar, visit); err != nil {
				return err
			}
		}
		return nil
	}
	switch {
	case group[0].parallel && r.canParallel(arches):
		return r.inParallel(arches, each)
	case group[0].parallel && r.canOverlap(arches, group):
		return r.overlapped(ctx, arches, group, visit)
	}
	for _, ar := range arches {
		if err := each(ar); err != nil {
			return err
		}
	}
	return nil
}

// minParallelCores is how many cores a machine needs for the arches to build at the same time.
var minParallelCores = 4

// canParallel: at least two arches, enough cores, and no -j set (a set -j is for one build).
func (r *run) canParallel(arches []*archRun) bool {
	return len(arches) >= 2 && runtime.NumCPU() >= minParallelCores && r.opts.Jobs == 0 && r.plan.Line.Profile.Build.Jobs == 0
}

// inParallel runs each arch at the same time, each with its share of the cores for make -j; they
// also overlap each other's serial steps (linking, compressing). The first failure is returned;
// the other arches finish what they started.
func (r *run) inParallel(arches []*archRun, each func(*archRun) error) error {
	r.parallel = true
	defer func() { r.parallel = false }()
	errs := make([]error, len(arches))
	var wg sync.WaitGroup
	for i, ar := range arches {
		ar.tree.Jobs = max(1, runtime.NumCPU()/len(arches))
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = each(ar)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// console is where a stage's lines go: the arch's own while arches overlap, else the run's.
func (r *run) console(ar *archRun) io.Writer {
	if ar != nil && ar.console != nil {
		return ar.console
	}
	return r.opts.Out
}

// visitIf visits a stage that applies; one that does not may say why.
func (r *run) visitIf(ctx context.Context, s *stage, ar *archRun, visit visitor) error {
	if s.applies != nil && r.mode != inPlan { // plan describes every stage, and what it depends on
		if ok, why := s.applies(r, ar); !ok {
			if why != "" {
				Say(r.console(ar), s.label(ar), why)
			}
			return nil
		}
	}
	return visit(ctx, s, ar)
}

// exec is the visitor of the modes that run stages: a stage whose key and outputs are as the
// last run left them is skipped, else its body runs; either way it is recorded and checkpointed.
func (r *run) exec(ctx context.Context, s *stage, ar *archRun) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if ar != nil {
		if err := r.openLog(ar); err != nil {
			return err
		}
	}
	in := r.keyInputs(ctx, s, ar)
	if rec, ok := r.reusable(ctx, s, ar, in); ok {
		return r.skip(s, ar, rec)
	}
	start := time.Now()
	out, err := s.body(ctx, r, ar)
	r.finish(s, ar, in, start, out, err)
	return err
}

// reusable finds the last run's record of the stage when the stage can be skipped: the same
// key, a success, its outputs there with the same SHA-256 and what it left elsewhere intact.
func (r *run) reusable(ctx context.Context, s *stage, ar *archRun, in inputs) (manifest.Stage, bool) {
	if r.prev == nil || r.opts.Force || len(in) == 0 {
		return manifest.Stage{}, false
	}
	rec := stageRecord(r.prev, s.name, archName(ar))
	if rec == nil {
		return manifest.Stage{}, false
	}
	if rec.Key != in.key() || (rec.Status != "ok" && rec.Status != "skipped") {
		return *rec, false
	}
	files := prevOutputs(r.prev, archName(ar), s.outputs)
	if len(s.outputs) > 0 && len(files) == 0 {
		return *rec, false // every stage that names outputs makes one: none recorded is nothing to carry
	}
	for _, f := range files {
		now, err := manifest.Describe(f.Name, f.Arch, filepath.Join(r.plan.OutDir, f.Path))
		if err != nil || now.SHA256 != f.SHA256 {
			return *rec, false
		}
	}
	if s.intact != nil && !s.intact(ctx, r, ar, *rec) {
		return *rec, false
	}
	return *rec, true
}

// prevOutputs are a manifest's outputs of the given names for arch.
func prevOutputs(m *manifest.Manifest, arch string, names []string) []manifest.File {
	var files []manifest.File
	for _, f := range m.Outputs {
		if f.Arch == arch && slices.Contains(names, f.Name) {
			files = append(files, f)
		}
	}
	return files
}

// skip records the stage as up to date: its state restored and its outputs carried over from
// the last run.
func (r *run) skip(s *stage, ar *archRun, rec manifest.Stage) error {
	start := time.Now()
	if err := r.carry(r.prev, s, ar, rec); err != nil {
		return err
	}
	r.record(func() {
		r.m.Stages = append(r.m.Stages, manifest.Stage{Name: rec.Name, Arch: rec.Arch, Status: "skipped", Started: start.UTC(),
			Seconds: time.Since(start).Seconds(), Detail: rec.Detail, Key: rec.Key, Inputs: rec.Inputs, Product: rec.Product})
		Say(r.console(ar), s.label(ar), "up to date: "+rec.Detail)
		r.report()
	})
	r.checkpoint()
	return nil
}

// carry takes a stage's work from a run's record (m, rec: the stage's record in it) into this
// one: the state it found out, through its row's restore, and the outputs it recorded.
func (r *run) carry(m *manifest.Manifest, s *stage, ar *archRun, rec manifest.Stage) error {
	if s.restore != nil {
		if err := s.restore(r, ar, m, rec); err != nil {
			return err
		}
	}
	r.record(func() { r.st.outputs = append(r.st.outputs, prevOutputs(m, archName(ar), s.outputs)...) })
	return nil
}

// finish records a stage that ran: its outputs (replacing earlier ones of the same name and
// arch), and its record with its key when it succeeded.
func (r *run) finish(s *stage, ar *archRun, in inputs, start time.Time, out outcome, err error) {
	st := manifest.Stage{Name: s.name, Arch: archName(ar), Status: "ok", Started: start.UTC(), Seconds: time.Since(start).Seconds(), Detail: out.detail}
	r.record(func() {
		if err != nil {
			st.Status, st.Detail = "failed", err.Error()
			Say(r.console(ar), s.label(ar), fmt.Sprintf("failed after %.1fs", st.Seconds))
		} else {
			if len(in) > 0 {
				st.Key, st.Inputs = in.key(), in
			}
			st.Product = out.product
			r.st.outputs = slices.DeleteFunc(r.st.outputs, func(f manifest.File) bool {
				return slices.ContainsFunc(out.outputs, func(o manifest.File) bool { return o.Name == f.Name && o.Arch == f.Arch })
			})
			r.st.outputs = append(r.st.outputs, out.outputs...)
			Say(r.console(ar), s.label(ar), fmt.Sprintf("%s (%.1fs)", out.detail, st.Seconds))
		}
		r.m.Stages = append(r.m.Stages, out.carried...)
		r.m.Stages = append(r.m.Stages, st)
		r.report()
	})
	r.checkpoint()
}

// extend walks the mode's rows on top of a finished run's record m (kbuild package): the state is
// taken up from m through the other rows' restores, the rows walked run through the executor as
// in any run, their records and outputs replacing the ones m held, and the record is written back
// to path with the run's status: it is still that run's manifest, which kpublish reads.
func (r *run) extend(ctx context.Context, m *manifest.Manifest, path string) error {
	walked := r.rows()
	base := *m
	base.Stages = slices.DeleteFunc(slices.Clone(m.Stages), func(st manifest.Stage) bool {
		return slices.ContainsFunc(walked, func(s *stage) bool { return s.name == st.Name })
	})
	if err := r.resume(&base, stages); err != nil {
		return err
	}
	r.m = &base
	err := r.walk(ctx, r.exec)
	if werr := r.m.Write(path); err == nil {
		err = werr
	}
	return err
}

// checkpoint writes the manifest as it stands, marked running: a run killed now leaves the
// record of every stage it finished, which the next run reuses. Failing to write it only costs
// that reuse, so the error is not the stage's.
func (r *run) checkpoint() {
	if r.manifestPath == "" {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	m := *r.m
	m.Status = "running"
	m.Write(r.manifestPath)
}

// stageRecord is a manifest's record of a stage, or nil.
func stageRecord(m *manifest.Manifest, name, arch string) *manifest.Stage {
	for i := range m.Stages {
		if m.Stages[i].Name == name && m.Stages[i].Arch == arch {
			return &m.Stages[i]
		}
	}
	return nil
}
