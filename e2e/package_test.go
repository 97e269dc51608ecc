//go:build e2e

package e2e

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The shared run ends with the package stage: per arch a CAB that cabextract tests and
// extracts to exactly the kernel that booted and its modules.vhdx, an MSI for x64, a NuGet
// package whose build/native/bin/<arch>/ holds exactly kernel and modules.vhd as built,
// update-<arch>.json beside them (never inside), SHA256SUMS. No initrd goes into anything that
// installs: WSL's own initrd boots the kernel.
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
	nuget := unzip(t, filepath.Join(out, "packages", "Microsoft.WSL.Kernel.6.12.118.1-1.nupkg"))
	for arch, win := range map[string]string{"x86_64": "x64", "arm64": "arm64"} {
		x := t.TempDir()
		cab := filepath.Join(out, "packages", "wsl-kernel-6.12.118.1-"+win+".cab")
		if msg, err := exec.Command("cabextract", "-q", "-d", x, cab).CombinedOutput(); err != nil {
			t.Fatalf("cabextract %s: %v\n%s", cab, err, msg)
		}
		sameFiles(t, "the "+win+" CAB", x, map[string]string{"kernel": filepath.Join(out, arch, "kernel"), "modules.vhdx": filepath.Join(out, arch, "modules.vhdx")})
		sameFiles(t, "the NuGet package's "+win+" folder", filepath.Join(nuget, "build/native/bin", win),
			map[string]string{"kernel": filepath.Join(out, arch, "kernel"), "modules.vhd": filepath.Join(out, arch, "modules.vhd")})
		var up struct {
			Schema  int    `json:"schema"`
			Version string `json:"version"`
			Signed  bool   `json:"signed"`
		}
		data, _ := os.ReadFile(filepath.Join(out, "packages", "update-"+win+".json"))
		if err := json.Unmarshal(data, &up); err != nil || up.Schema != 2 || up.Version != "6.12.118.1" || up.Signed {
			t.Errorf("update-%s.json: %+v, %v (the smoke profile does not sign)", win, up, err)
		}
	}
}

// unzip extracts a zip archive (a NuGet package) into a new folder.
func unzip(t *testing.T, path string) string {
	t.Helper()
	z, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer z.Close()
	dir := t.TempDir()
	for _, f := range z.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(rc)
		rc.Close()
		dest := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err != nil || !strings.HasPrefix(dest, dir+string(filepath.Separator)) {
			t.Fatalf("%s: entry %s: %v", path, f.Name, err)
		}
		os.MkdirAll(filepath.Dir(dest), 0o755)
		os.WriteFile(dest, data, 0o644)
	}
	return dir
}

// sameFiles checks a folder holds exactly the files named, each with the bytes of its original.
func sameFiles(t *testing.T, what, dir string, want map[string]string) {
	t.Helper()
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(want) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s holds %v, want exactly %d files", what, names, len(want))
	}
	for name, orig := range want {
		got, _ := os.ReadFile(filepath.Join(dir, name))
		built, _ := os.ReadFile(orig)
		if len(built) == 0 || !bytes.Equal(got, built) {
			t.Errorf("%s: its %s is not the build's %s", what, name, orig)
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
