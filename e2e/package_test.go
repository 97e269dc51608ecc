//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shared run ends with the package stage: per arch a CAB that cabextract tests and
// extracts to the very kernel that booted, an MSI for x64, a NuGet package, SHA256SUMS.
func TestRunPackagesThePayloads(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	out := filepath.Dir(manifestAt)
	var payloads []string
	for _, o := range manifestRun.Outputs {
		if o.Name == "payload" {
			payloads = append(payloads, filepath.Base(o.Path))
		}
	}
	want := "Microsoft.WSL.Kernel.6.12.118.1-1.nupkg update-arm64.json update-x64.json wsl-kernel-6.12.118.1-arm64.cab wsl-kernel-6.12.118.1-x64.cab wsl-kernel-6.12.118.1-x64.msi"
	if got := strings.Join(payloads, " "); got != want {
		t.Fatalf("payloads in the manifest: %s\nwant %s", got, want)
	}
	for arch, win := range map[string]string{"x86_64": "x64", "arm64": "arm64"} {
		x := t.TempDir()
		cab := filepath.Join(out, "packages", "wsl-kernel-6.12.118.1-"+win+".cab")
		if msg, err := exec.Command("cabextract", "-q", "-d", x, cab).CombinedOutput(); err != nil {
			t.Fatalf("cabextract %s: %v\n%s", cab, err, msg)
		}
		for name, built := range map[string]string{"kernel": "kernel", "initrd.img": "initrd.img", "modules.vhd": "modules.vhdx", "config": "config"} {
			got, _ := os.ReadFile(filepath.Join(x, name))
			orig, _ := os.ReadFile(filepath.Join(out, arch, built))
			if len(orig) == 0 || !bytes.Equal(got, orig) {
				t.Errorf("%s: the CAB's %s is not the build's %s", win, name, built)
			}
		}
		var up struct {
			Version string `json:"version"`
			Signed  bool   `json:"signed"`
		}
		data, _ := os.ReadFile(filepath.Join(x, "update.json"))
		if err := json.Unmarshal(data, &up); err != nil || up.Version != "6.12.118.1" || up.Signed {
			t.Errorf("%s update.json: %+v, %v (the smoke profile does not sign)", win, up, err)
		}
	}
}

// kbuild package signs with a certificate from the environment: a throwaway CA and code-signing
// certificate made with openssl here; osslsigncode verifies CAB and MSI against that CA.
func TestPackageSignsWithTheEnvironmentsCertificate(t *testing.T) {
	if manifestRun == nil {
		t.Skip("no shared run")
	}
	dir := t.TempDir()
	openssl := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=wslkernel e2e CA",
		"-addext", "basicConstraints=critical,CA:true", "-addext", "keyUsage=critical,keyCertSign,digitalSignature")
	openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "signer.key", "-out", "signer.csr", "-subj", "/CN=wslkernel e2e signer")
	os.WriteFile(filepath.Join(dir, "ext"), []byte("extendedKeyUsage=codeSigning\nkeyUsage=digitalSignature\n"), 0o644)
	openssl("x509", "-req", "-in", "signer.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out", "signer.pem", "-days", "1", "-extfile", "ext")
	t.Setenv("WSLKERNEL_SIGN_CERT", filepath.Join(dir, "signer.pem"))
	t.Setenv("WSLKERNEL_SIGN_KEY", filepath.Join(dir, "signer.key"))
	defer func() {
		// Leave the shared run's payloads unsigned, as the run made them, for the other tests.
		os.Unsetenv("WSLKERNEL_SIGN_CERT")
		os.Unsetenv("WSLKERNEL_SIGN_KEY")
		kbuild(context.Background(), "package", "--profile", "smoke", "--work-dir", workDir)
	}()
	out, err := kbuild(context.Background(), "package", "--profile", "smoke", "--work-dir", workDir)
	if err != nil || !strings.Contains(out, "signed by CN=wslkernel e2e signer") {
		t.Fatalf("kbuild package: %v\n%s", err, out)
	}
	pkg := filepath.Join(filepath.Dir(manifestAt), "packages")
	for _, name := range []string{"wsl-kernel-6.12.118.1-x64.cab", "wsl-kernel-6.12.118.1-arm64.cab", "wsl-kernel-6.12.118.1-x64.msi"} {
		msg, err := exec.Command("osslsigncode", "verify", "-CAfile", filepath.Join(dir, "ca.pem"), "-in", filepath.Join(pkg, name)).CombinedOutput()
		if err != nil || !strings.Contains(string(msg), "Signature verification: ok") {
			t.Errorf("osslsigncode verify %s: %v\n%s", name, err, msg)
		}
	}
	if update, _ := os.ReadFile(filepath.Join(pkg, "update-x64.json")); !strings.Contains(string(update), `"signed": true`) {
		t.Errorf("update-x64.json does not say signed:\n%s", update)
	}
	// A certificate that cannot sign code is refused before anything is written.
	t.Setenv("WSLKERNEL_SIGN_CERT", filepath.Join(dir, "ca.pem"))
	t.Setenv("WSLKERNEL_SIGN_KEY", filepath.Join(dir, "ca.key"))
	out, err = kbuild(context.Background(), "package", "--profile", "smoke", "--work-dir", workDir)
	if err == nil || !strings.Contains(out, "is not a code-signing certificate") {
		t.Errorf("kbuild package with the CA's own certificate: %v\n%s", err, out)
	}
}
