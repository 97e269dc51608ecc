package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/manifest"
)

// Stages are content-addressed: each has a key, the hash of everything it reads (the files and
// settings it is given, the upstream commit, tool versions, the SHA-256 of the outputs of the
// stages before it). A run finds the last run of the same version in its output folder; a stage
// whose key is the same and whose outputs are still there with the same SHA-256 is skipped, and
// its record (outputs, build and boot results) carried over. The manifest is written after every
// stage, so a run that was killed leaves the record of what it finished for the next one.

// key hashes the parts of a stage's input; each part is length-prefixed, so no two lists of
// parts hash alike.
func key(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// inputs are what a stage reads, by name ("fragment configs/wsl.config", "compiler", "kernel"),
// each with its SHA-256 or value; the manifest records them, so status can name what changed.
type inputs map[string]string

// key is the stage's cache key: the hash of every input, in name order.
func (in inputs) key() string {
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, 0, 2*len(names))
	for _, n := range names {
		parts = append(parts, n, in[n])
	}
	return key(parts...)
}

// fileKey is the SHA-256 of a file's contents, or a part that names what is wrong, so a missing
// file never matches a key made when it was there.
func fileKey(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return "unreadable " + path
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "unreadable " + path
	}
	return hex.EncodeToString(h.Sum(nil))
}

// dirKey hashes a folder's files (a Go program's package): names and contents, sorted.
func dirKey(dir string) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "unreadable " + dir
	}
	var parts []string
	for _, e := range entries {
		if e.Type().IsRegular() {
			parts = append(parts, e.Name(), fileKey(filepath.Join(dir, e.Name())))
		}
	}
	return key(parts...)
}

// cached is a stage that can be skipped: its key, the outputs it records (by manifest name, for
// its arch), a check of what it left outside the output folder, and what to restore into this
// run from the last run's record when it is skipped.
type cached struct {
	inputs  inputs // none: the stage always runs (it could not work out what it reads)
	outputs []string
	// intact reports whether what the stage left elsewhere (a .config, a branch ref, a source
	// tree) is still as the last run's record says; nil when there is nothing to check.
	intact func(prev manifest.Stage) bool
	// restore takes what the stage found out from the last run's manifest into this run.
	restore func(prev *manifest.Manifest, st manifest.Stage) error
}

// cachedStage runs a stage through the cache: skipped when the last run of this version did it
// with the same key and its outputs are intact, else run and recorded under the key. fn returns
// the stage's detail and its product (see manifest.Stage.Product).
func (r *run) cachedStage(name, arch string, c cached, fn func() (detail, product string, err error)) error {
	if st, ok := r.reusable(name, arch, c); ok {
		return r.skip(st, c)
	}
	return r.keyedStage(name, arch, c.inputs, fn)
}

// reusable finds the last run's record of the stage when the stage can be skipped.
func (r *run) reusable(name, arch string, c cached) (manifest.Stage, bool) {
	if r.prev == nil || r.opts.Force || len(c.inputs) == 0 {
		return manifest.Stage{}, false
	}
	rec := stageRecord(r.prev, name, arch)
	if rec == nil {
		return manifest.Stage{}, false
	}
	st := *rec
	if st.Key != c.inputs.key() || (st.Status != "ok" && st.Status != "skipped") {
		return st, false
	}
	files := r.prevOutputs(arch, c.outputs)
	if len(c.outputs) > 0 && len(files) == 0 {
		return st, false // every stage that names outputs makes one: none recorded is nothing to carry
	}
	for _, f := range files {
		now, err := manifest.Describe(f.Name, f.Arch, filepath.Join(r.plan.OutDir, f.Path))
		if err != nil || now.SHA256 != f.SHA256 {
			return st, false
		}
	}
	if c.intact != nil && !c.intact(st) {
		return st, false
	}
	return st, true
}

// prevOutputs are the last run's outputs of the given names for arch.
func (r *run) prevOutputs(arch string, names []string) []manifest.File {
	var files []manifest.File
	for _, f := range r.prev.Outputs {
		if f.Arch == arch && slices.Contains(names, f.Name) {
			files = append(files, f)
		}
	}
	return files
}

// skip records the stage as up to date, carrying the last run's outputs and results.
func (r *run) skip(st manifest.Stage, c cached) error {
	start := time.Now()
	if c.restore != nil {
		if err := c.restore(r.prev, st); err != nil {
			return err
		}
	}
	label := st.Name
	if st.Arch != "" {
		label += " [" + st.Arch + "]"
	}
	r.record(func() {
		r.m.Outputs = append(r.m.Outputs, r.prevOutputs(st.Arch, c.outputs)...)
		r.m.Stages = append(r.m.Stages, manifest.Stage{Name: st.Name, Arch: st.Arch, Status: "skipped",
			Started: start.UTC(), Seconds: time.Since(start).Seconds(), Detail: st.Detail, Key: st.Key, Inputs: st.Inputs, Product: st.Product})
		fmt.Fprintf(r.opts.Out, "%-18s up to date: %s\n", label, st.Detail)
	})
	r.checkpoint()
	return nil
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

// outputKey is the SHA-256 this run recorded for an output, for the keys of the stages that read it.
func (r *run) outputKey(name, arch string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, f := range r.m.Outputs {
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
	for _, f := range r.m.Outputs {
		if f.Name != "payload" {
			in[strings.TrimSpace(f.Name+" "+f.Arch)] = f.SHA256
		}
	}
	return in
}
