package pipeline

import (
	"bytes"
	"context"
	"strings"

	"github.com/wslkernel/wslkernel/internal/kbuild"
)

// Tool versions are inputs of the stages that use the tools: asked once per run.

// toolchainID is the compiler's first --version line, for the keys of the stages that compile.
func (r *run) toolchainID(ctx context.Context, a kbuild.Arch) string {
	return r.toolVersion(ctx, a.CrossCompile+"gcc", "--version")
}

// goVersion is the version of the go command that builds the initrd's programs.
func (r *run) goVersion(ctx context.Context) string {
	return r.toolVersion(ctx, "go", "env", "GOVERSION")
}

// toolVersion is the first line a program prints of its version, asked once per run.
func (r *run) toolVersion(ctx context.Context, prog string, args ...string) string {
	asked := prog + " " + strings.Join(args, " ")
	r.mu.Lock()
	v, ok := r.tools[asked]
	r.mu.Unlock()
	if ok {
		return v
	}
	var out bytes.Buffer
	v = "unknown " + prog
	if err := r.opts.Runner.Run(ctx, prog, args, nil, &out); err == nil {
		first, _, _ := strings.Cut(out.String(), "\n")
		v = strings.TrimSpace(first)
	}
	r.record(func() {
		if r.tools == nil {
			r.tools = map[string]string{}
		}
		r.tools[asked] = v
	})
	return v
}
