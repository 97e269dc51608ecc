package payload

import (
	"context"
	"crypto/x509"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/wslkernel/wslkernel/internal/runner"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

// watchingRunner runs programs for real and, while each runs, notes every file in dir: where a
// temporary file holding the password would be, and where a SIGKILL would leave it.
type watchingRunner struct {
	runner.Exec
	dir   string
	seen  []string
	lines []string
}

func (w *watchingRunner) look(name string, args []string) {
	w.lines = append(w.lines, runner.CommandLine(name, args, nil))
	entries, _ := os.ReadDir(w.dir)
	for _, e := range entries {
		w.seen = append(w.seen, e.Name())
	}
}

func (w *watchingRunner) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	w.look(name, args)
	return w.Exec.Run(ctx, name, args, env, out)
}

func (w *watchingRunner) Filter(ctx context.Context, name string, args, env []string, in io.Reader, out io.Writer) error {
	w.look(name, args)
	return w.Exec.Filter(ctx, name, args, env, in, out)
}

// The PKCS#12 password reaches osslsigncode through its stdin: no file holds it while it signs
// (one would outlive a SIGKILL), and no command line names it. A wrong password is still an
// error that names the bundle and does not show the password.
func TestSignPasswordLeavesNoFile(t *testing.T) {
	testtool.Need(t, "osslsigncode", "gcab")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	caPEM, _, _, key, cert, ca := throwawayCA(t, nil)
	p12, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca}, "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p12Path := filepath.Join(dir, "signer.p12")
	os.WriteFile(p12Path, p12, 0o600)
	os.WriteFile(filepath.Join(dir, "f.txt"), []byte("hi\n"), 0o644)
	cab := filepath.Join(dir, "x.cab")
	gcab := exec.Command("gcab", "-c", cab, "f.txt")
	gcab.Dir = dir
	if out, err := gcab.CombinedOutput(); err != nil {
		t.Fatalf("gcab: %v\n%s", err, out)
	}

	w := &watchingRunner{dir: tmp}
	s := &Signer{PKCS12: p12Path, Password: "s3cret-pass"}
	signed := filepath.Join(dir, "signed.cab")
	if err := s.Sign(context.Background(), w, cab, signed, "test", time.Now()); err != nil {
		t.Fatalf("Sign = %v", err)
	}
	verifySigned(t, caPEM, signed, nil)
	if len(w.seen) != 0 {
		t.Errorf("while osslsigncode signed, the temporary folder held %v; want nothing", w.seen)
	}
	if i := slices.IndexFunc(w.lines, func(l string) bool { return strings.Contains(l, "s3cret") }); i >= 0 {
		t.Errorf("a command line names the password: %s", w.lines[i])
	}

	s.Password = "wrong-pass"
	err = s.Sign(context.Background(), w, cab, filepath.Join(dir, "again.cab"), "test", time.Now())
	if err == nil || !strings.Contains(err.Error(), "Wrong password?") || strings.Contains(err.Error(), "wrong-pass") {
		t.Errorf("Sign(wrong password) = %v; want osslsigncode's complaint, without the password", err)
	}
}
