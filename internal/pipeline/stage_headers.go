package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

// The headers stage installs the UAPI headers (make headers_install) into <out>/<arch>/headers,
// written beside and renamed into place; the manifest records the folder by its digest. It
// applies when the profile's build asks for headers.

func wantsHeaders(r *run, _ *archRun) (bool, string) { return r.plan.Line.Profile.Build.Headers, "" }

// headersDerives: the build (headers_install reads the configured tree).
func headersDerives(_ context.Context, _ *run, ar *archRun) inputs {
	return inputs{"build": ar.keys[stBuild]}
}

func headersBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	dest := filepath.Join(ar.out, "headers")
	tmp := dest + ".tmp"
	if err := os.RemoveAll(tmp); err != nil {
		return outcome{}, err
	}
	defer os.RemoveAll(tmp) // after a failure; after success it is already renamed
	if err := installHeaders(ctx, ar, tmp); err != nil {
		return outcome{}, fmt.Errorf("%w\nfull log: %s", err, ar.logPath)
	}
	if err := os.RemoveAll(dest); err != nil {
		return outcome{}, err
	}
	if err := os.Rename(tmp, dest); err != nil {
		return outcome{}, err
	}
	f, err := r.output(outHeaders, ar.a.Name, dest)
	if err != nil {
		return outcome{}, err
	}
	return outcome{detail: fmt.Sprintf("%s, %d KiB", dest, f.Size>>10), outputs: []manifest.File{f}}, nil
}

// installHeaders installs the UAPI headers under dest.
func installHeaders(ctx context.Context, ar *archRun, dest string) error {
	return ar.tree.Make(ctx, ar.log, "INSTALL_HDR_PATH="+dest, "headers_install")
}

// rehearseHeaders hands the headers stage's make command to the Runner (kbuild plan).
func rehearseHeaders(ctx context.Context, _ *run, ar *archRun) error {
	return installHeaders(ctx, ar, filepath.Join(ar.out, "headers.tmp"))
}

func describeHeaders(p *Plan, _ kbuild.Arch) string {
	if !p.Line.Profile.Build.Headers {
		return ""
	}
	return "make headers_install"
}
