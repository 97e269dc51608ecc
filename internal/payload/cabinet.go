package payload

import (
	"bytes"
	"context"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/cab"
)

// makeCAB writes the arch's CAB of files (the kernel and modules.vhdx, or artifacts.vhd: what
// .wslconfig's kernel= and kernelModules= take), signed when signing is on.
func (o *Options) makeCAB(ctx context.Context, tmp string, b *archBuild, name, desc string, files []artifact) error {
	var buf bytes.Buffer
	var entries []cab.File
	for _, f := range files {
		entries = append(entries, cab.File{Name: f.name, Data: f.data})
	}
	if err := cab.Write(&buf, entries, o.when()); err != nil {
		return err
	}
	if err := o.finish(ctx, buf.Bytes(), filepath.Join(b.scratch, "unsigned.cab"), filepath.Join(tmp, name), desc); err != nil {
		return err
	}
	b.payloads = append(b.payloads, made{name: name, holds: names(files)})
	return nil
}

// names are the files' names, in order.
func names(files []artifact) []string {
	var out []string
	for _, f := range files {
		out = append(out, f.name)
	}
	return out
}
