package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/initrd"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The initrd stage builds the profile's Go programs for the arch and writes the archive its spec
// describes: the init the boot test runs. It reads neither the source nor the build.

// initrdDeclares: the spec, the compression and the Go programs' sources (every Go file of the
// module they belong to).
func initrdDeclares(l *config.Line, _ string) (inputs, error) {
	spec := l.Profile.Initrd
	in := inputs{"spec " + l.Pipeline.Rel(spec.Spec): fileKey(spec.Spec), "compression": spec.Compression}
	for name, pkg := range spec.Programs {
		in["program "+name] = goSourcesKey(pkg)
	}
	return in, nil
}

// initrdDerives: the time stamped on every entry, and the Go version that builds the programs.
func initrdDerives(ctx context.Context, r *run, _ *archRun) inputs {
	in := inputs{"mtime": fmt.Sprint(r.st.commitTS().Unix())}
	if len(r.plan.Line.Profile.Initrd.Programs) > 0 {
		in["go"] = r.goVersion(ctx)
	}
	return in
}

func initrdBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	spec := r.plan.Line.Profile.Initrd
	vars, err := r.buildPrograms(ctx, ar.a)
	if err != nil {
		return outcome{}, err
	}
	f, err := os.Open(spec.Spec)
	if err != nil {
		return outcome{}, err
	}
	defer f.Close()
	entries, err := initrd.ParseSpec(f, spec.Spec, vars)
	if err != nil {
		return outcome{}, err
	}
	dest := filepath.Join(ar.out, "initrd.img")
	if err := initrd.Write(ctx, r.opts.Runner, dest, entries, r.st.commitTS().Unix(), spec.Compression); err != nil {
		return outcome{}, err
	}
	out, err := r.output(outInitrd, ar.a.Name, dest)
	if err != nil {
		return outcome{}, err
	}
	return outcome{detail: fmt.Sprintf("%d entries from %s", len(entries), r.plan.Line.Pipeline.Rel(spec.Spec)), outputs: []manifest.File{out}}, nil
}

// buildPrograms builds the spec's Go programs for the arch, reproducibly; it returns their paths
// by the names the spec uses for them.
func (r *run) buildPrograms(ctx context.Context, a kbuild.Arch) (map[string]string, error) {
	vars := map[string]string{}
	for name, pkg := range r.plan.Line.Profile.Initrd.Programs {
		bin := filepath.Join(r.opts.WorkDir, "programs", a.Name, strings.ToLower(name))
		if err := os.MkdirAll(filepath.Dir(bin), 0o755); err != nil {
			return nil, err
		}
		var out bytes.Buffer
		env := []string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + a.GOARCH}
		args := []string{"build", "-C", pkg, "-trimpath", "-ldflags=-s -w -buildid=", "-o", bin, "."}
		if err := r.opts.Runner.Run(ctx, "go", args, env, &out); err != nil {
			return nil, fmt.Errorf("building %s (%s) for %s: %v\n%s", name, pkg, a.Name, err, out.String())
		}
		vars[name] = bin
	}
	return vars, nil
}

// rehearseInitrd hands the go build commands of the initrd's programs to the Runner (kbuild plan).
func rehearseInitrd(ctx context.Context, r *run, ar *archRun) error {
	_, err := r.buildPrograms(ctx, ar.a)
	return err
}

func describeInitrd(p *Plan, _ kbuild.Arch) string {
	prof := p.Line.Profile
	return fmt.Sprintf("%s, %s", p.Line.Pipeline.Rel(prof.Initrd.Spec), compressionName(prof.Initrd.Compression))
}

func compressionName(c string) string {
	if c == "" {
		return "gzip"
	}
	return c
}
