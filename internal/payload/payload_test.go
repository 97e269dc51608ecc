package payload

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/testtool"
)

var released = time.Date(2026, 11, 21, 12, 56, 2, 0, time.UTC)

// fakeRun writes an out dir as kbuild run leaves it, for two arches, and its manifest.
func fakeRun(t *testing.T) (string, *manifest.Manifest, map[string][]byte) {
	t.Helper()
	out := t.TempDir()
	m := &manifest.Manifest{Schema: 1, Pipeline: "linux-msft-wsl", Version: "6.12.118.1", KernelRelease: "6.12.118.1-microsoft-standard-WSL2",
		Branch: "linux-msft-wsl-6.12.y", BranchHead: strings.Repeat("b", 40), Status: "ok",
		Upstream: manifest.Upstream{Tag: "v6.12.118", Commit: strings.Repeat("c", 40), CommitTime: released, Signer: "81BD140BD3698A566C928548294EF09788CB746A"}}
	contents := map[string][]byte{}
	for _, arch := range []string{"x86_64", "arm64"} {
		m.Builds = append(m.Builds, manifest.Build{Arch: arch})
		os.MkdirAll(filepath.Join(out, arch), 0o755)
		kernel := make([]byte, 200000)
		rand.Read(kernel)
		for name, data := range map[string][]byte{"kernel": kernel, "initrd.img": []byte("initrd " + arch), "modules.vhdx": make([]byte, 300000),
			"config": []byte("CONFIG_HYPERV=y\n")} {
			p := filepath.Join(out, arch, name)
			os.WriteFile(p, data, 0o644)
			output := map[string]string{"kernel": "kernel", "initrd.img": "initrd", "modules.vhdx": "modules", "config": "config"}[name]
			f, err := manifest.Describe(output, arch, p)
			if err != nil {
				t.Fatal(err)
			}
			f.Path = arch + "/" + name
			m.Outputs = append(m.Outputs, f)
			installed := map[string]string{"modules.vhdx": "modules.vhd"}[name]
			if installed == "" {
				installed = name
			}
			contents[arch+"/"+installed] = data
		}
	}
	return out, m, contents
}

// throwawayCA makes a CA and a certificate signed by it, as PEM files; leaf edits the
// certificate template (validity, usage).
func throwawayCA(t *testing.T, leaf func(*x509.Certificate)) (caPEM, certPEM, keyPEM string, key *rsa.PrivateKey, cert *x509.Certificate, ca *x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	// RSA for the signer: PKCS#1 v1.5 signatures are deterministic, so two runs can be compared
	// byte for byte (ECDSA's are randomized by design).
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "wslkernel test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ = x509.ParseCertificate(caDER)
	key, _ = rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "wslkernel test signer", Organization: []string{"wslkernel"}},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}}
	if leaf != nil {
		leaf(tmpl)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ = x509.ParseCertificate(der)
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	caPEM, certPEM, keyPEM = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644)
	os.WriteFile(certPEM, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})...), 0o644)
	os.WriteFile(keyPEM, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600)
	return caPEM, certPEM, keyPEM, key, cert, ca
}

func TestSignedPayloadsPassTheToolsThatReadThem(t *testing.T) {
	testtool.Need(t, "cabextract", "gcab", "wixl", "msiinfo", "msiextract", "osslsigncode", "faketime")
	out, m, contents := fakeRun(t)
	caPEM, certPEM, keyPEM, key, cert, ca := throwawayCA(t, nil)
	o := Options{OutDir: out, Manifest: m, Formats: []string{"cab", "msi", "nuget"}, Supersedes: "6.12.117.1",
		RepoURL: "https://github.com/wslkernel/WSL2-Linux-Kernel.git", Signer: &Signer{Cert: certPEM, Key: keyPEM}}
	files, err := Make(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(out, Dir)
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	want := "Microsoft.WSL.Kernel.6.12.118.1-1.nupkg update-arm64.json update-x64.json wsl-kernel-6.12.118.1-arm64.cab wsl-kernel-6.12.118.1-x64.cab wsl-kernel-6.12.118.1-x64.msi"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("payloads %s\nwant     %s", got, want)
	}
	for _, name := range []string{"wsl-kernel-6.12.118.1-x64.cab", "wsl-kernel-6.12.118.1-arm64.cab", "wsl-kernel-6.12.118.1-x64.msi"} {
		p := filepath.Join(pkg, name)
		if out, err := exec.Command("osslsigncode", "verify", "-CAfile", caPEM, "-in", p).CombinedOutput(); err != nil || !strings.Contains(string(out), "Signature verification: ok") {
			t.Errorf("osslsigncode verify %s: %v\n%s", name, err, out)
		}
	}
	// The CABs: cabextract tests and extracts them, byte for byte; gcab lists them.
	for _, win := range []string{"x64", "arm64"} {
		arch := map[string]string{"x64": "x86_64", "arm64": "arm64"}[win]
		p := filepath.Join(pkg, "wsl-kernel-6.12.118.1-"+win+".cab")
		if msg, err := exec.Command("cabextract", "-t", p).CombinedOutput(); err != nil || !strings.Contains(string(msg), "All done, no errors") {
			t.Errorf("cabextract -t %s: %v\n%s", p, err, msg)
		}
		if list, err := exec.Command("gcab", "-l", p).CombinedOutput(); err != nil || !strings.Contains(string(list), "modules.vhd") {
			t.Errorf("gcab -l %s: %v\n%s", p, err, list)
		}
		x := t.TempDir()
		if msg, err := exec.Command("cabextract", "-q", "-d", x, p).CombinedOutput(); err != nil {
			t.Fatalf("cabextract %s: %v\n%s", p, err, msg)
		}
		for _, name := range []string{"kernel", "initrd.img", "modules.vhd", "config"} {
			if got, _ := os.ReadFile(filepath.Join(x, name)); !bytes.Equal(got, contents[arch+"/"+name]) {
				t.Errorf("%s: extracted %s differs from the build's", win, name)
			}
		}
		var up Update
		data, _ := os.ReadFile(filepath.Join(x, "update.json"))
		if err := json.Unmarshal(data, &up); err != nil {
			t.Fatal(err)
		}
		if up.Schema != 1 || up.Version != "6.12.118.1" || up.Arch != win || !up.Signed || up.Supersedes != "6.12.117.1" || up.Upstream.Tag != "v6.12.118" || len(up.Files) != 4 {
			t.Errorf("update.json = %+v", up)
		}
		if f := up.Files[0]; f.Name != "kernel" || f.InstallPath != `%SystemRoot%\System32\lxss\tools\kernel` || f.Size != 200000 {
			t.Errorf("update.json kernel = %+v", f)
		}
		if beside, _ := os.ReadFile(filepath.Join(pkg, "update-"+win+".json")); !bytes.Equal(beside, data) {
			t.Errorf("update-%s.json beside the CAB differs from the one inside", win)
		}
	}
	// The MSI: its tables, and msiextract gives our files.
	msi := filepath.Join(pkg, "wsl-kernel-6.12.118.1-x64.msi")
	if tables, err := exec.Command("msiinfo", "tables", msi).CombinedOutput(); err != nil || !strings.Contains(string(tables), "Upgrade") || !strings.Contains(string(tables), "File") {
		t.Errorf("msiinfo tables: %v\n%s", err, tables)
	}
	if rows, err := exec.Command("msiinfo", "export", msi, "Property").CombinedOutput(); err != nil || !strings.Contains(string(rows), "ProductVersion\t6.12.118.1") ||
		!strings.Contains(string(rows), "UpgradeCode\t{"+guid("upgrade", "linux-msft-wsl", "Windows Subsystem for Linux Kernel", "x64")+"}") {
		t.Errorf("msiinfo export Property: %v\n%s", err, rows)
	}
	x := t.TempDir()
	if msg, err := exec.Command("msiextract", "-C", x, msi).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, msg)
	}
	if got, _ := os.ReadFile(filepath.Join(x, "lxss/tools/kernel")); !bytes.Equal(got, contents["x86_64/kernel"]) {
		found, _ := exec.Command("find", x).Output()
		t.Errorf("msiextract's kernel differs; it wrote:\n%s", found)
	}
	// The NuGet package: a zip any reader opens, the nuspec's required fields, the files per arch.
	zr, err := zip.OpenReader(filepath.Join(pkg, "Microsoft.WSL.Kernel.6.12.118.1-1.nupkg"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	entries := map[string][]byte{}
	for _, f := range zr.File {
		r, _ := f.Open()
		entries[f.Name], _ = io.ReadAll(r)
		r.Close()
	}
	nuspec := string(entries["Microsoft.WSL.Kernel.nuspec"])
	for _, want := range []string{"<id>Microsoft.WSL.Kernel</id>", "<version>6.12.118.1-1</version>", "<authors>linux-msft-wsl</authors>", "<description>"} {
		if !strings.Contains(nuspec, want) {
			t.Errorf("nuspec lacks %s:\n%s", want, nuspec)
		}
	}
	if !bytes.Equal(entries["build/native/bin/x64/kernel"], contents["x86_64/kernel"]) || !bytes.Equal(entries["build/native/bin/arm64/modules.vhd"], contents["arm64/modules.vhd"]) {
		t.Errorf("nupkg files differ from the build's")
	}
	// SHA256SUMS names every payload with its hash.
	sums, _ := os.ReadFile(filepath.Join(pkg, "SHA256SUMS"))
	for _, f := range files {
		if !strings.Contains(string(sums), f.SHA256+"  "+filepath.Base(f.Path)+"\n") {
			t.Errorf("SHA256SUMS lacks %s", f.Path)
		}
	}
	// The same inputs give the same bytes, signatures included (the signing time is the release's).
	first := map[string][]byte{}
	for _, f := range files {
		first[f.Path], _ = os.ReadFile(filepath.Join(out, f.Path))
	}
	if _, err := Make(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	for p, data := range first {
		if again, _ := os.ReadFile(filepath.Join(out, p)); !bytes.Equal(again, data) {
			t.Errorf("%s differs between two runs", p)
		}
	}
	// A PKCS#12 bundle signs too; its password reaches osslsigncode through a file, not argv.
	p12, err := pkcs12.Modern.Encode(key, cert, []*x509.Certificate{ca}, "s3cret-pass")
	if err != nil {
		t.Fatal(err)
	}
	p12Path := filepath.Join(t.TempDir(), "signer.p12")
	os.WriteFile(p12Path, p12, 0o600)
	o.Signer = &Signer{PKCS12: p12Path, Password: "s3cret-pass"}
	o.Formats = []string{"cab"}
	if _, err := Make(context.Background(), o); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("osslsigncode", "verify", "-CAfile", caPEM, "-in", filepath.Join(pkg, "wsl-kernel-6.12.118.1-x64.cab")).CombinedOutput(); err != nil {
		t.Errorf("osslsigncode verify (PKCS#12): %v\n%s", err, out)
	}
}

func TestUnsignedIsMarkedAndPGPSignsTheSums(t *testing.T) {
	testtool.Need(t, "cabextract")
	out, m, _ := fakeRun(t)
	keyFile := filepath.Join(t.TempDir(), "release.asc")
	entity, err := newPGPKey()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, entity, 0o600)
	if _, err := Make(context.Background(), Options{OutDir: out, Manifest: m, Formats: []string{"cab"}, OpenPGPKey: keyFile}); err != nil {
		t.Fatal(err)
	}
	var up Update
	data, _ := os.ReadFile(filepath.Join(out, Dir, "update-x64.json"))
	if err := json.Unmarshal(data, &up); err != nil || up.Signed {
		t.Errorf("unsigned payload's update.json: %+v, %v", up, err)
	}
	if err := verifyPGP(keyFile, filepath.Join(out, Dir, "SHA256SUMS"), filepath.Join(out, Dir, "SHA256SUMS.asc")); err != nil {
		t.Errorf("SHA256SUMS.asc: %v", err)
	}
}

func TestBadInputLeavesNoPayloads(t *testing.T) {
	testtool.Need(t, "osslsigncode")
	_, certPEM, _, _, _, _ := throwawayCA(t, nil)
	_, expiredPEM, expiredKey, _, _, _ := throwawayCA(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) })
	_, tlsPEM, tlsKey, _, _, _ := throwawayCA(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
	for _, c := range []struct {
		name   string
		signer *Signer
		edit   func(out string, m *manifest.Manifest)
		want   string
	}{
		{"key of another certificate", &Signer{Cert: certPEM, Key: tlsKey}, nil, "the key does not match the certificate"},
		{"expired", &Signer{Cert: expiredPEM, Key: expiredKey}, nil, "not now"},
		{"not code signing", &Signer{Cert: tlsPEM, Key: tlsKey}, nil, "is not a code-signing certificate"},
		{"wrong PKCS#12 password", &Signer{PKCS12: certPEM, Password: "x"}, nil, "signing: " + certPEM},
		{"missing kernel", nil, func(out string, m *manifest.Manifest) { os.Remove(filepath.Join(out, "arm64/kernel")) }, "missing build artifact"},
		{"changed kernel", nil, func(out string, m *manifest.Manifest) {
			os.WriteFile(filepath.Join(out, "arm64/kernel"), []byte("x"), 0o644)
		}, "changed since the build"},
		{"no initrd in the manifest", nil, func(out string, m *manifest.Manifest) {
			m.Outputs = slices.DeleteFunc(m.Outputs, func(f manifest.File) bool { return f.Name == "initrd" && f.Arch == "x86_64" })
		}, "lists no initrd for x86_64"},
	} {
		out, m, _ := fakeRun(t)
		if c.edit != nil {
			c.edit(out, m)
		}
		_, err := Make(context.Background(), Options{OutDir: out, Manifest: m, Formats: []string{"cab"}, Signer: c.signer})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Make = %v, want %q", c.name, err, c.want)
		}
		if left, _ := filepath.Glob(filepath.Join(out, "*packages*")); len(left) != 0 {
			t.Errorf("%s: left %v", c.name, left)
		}
	}
	// An output folder that cannot be written (here: a file stands where it should be).
	out, m, _ := fakeRun(t)
	blocked := filepath.Join(out, "x86_64", "kernel")
	if _, err := Make(context.Background(), Options{OutDir: blocked, Manifest: m, Formats: []string{"cab"}}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Make into a file = %v", err)
	}
}

// An external signing command (an HSM, a signing service) gets {in} and {out}; a command that
// fails, or writes nothing, fails the package with its output.
func TestExternalSigningCommand(t *testing.T) {
	out, m, _ := fakeRun(t)
	if _, err := Make(context.Background(), Options{OutDir: out, Manifest: m, Formats: []string{"cab"},
		Signer: &Signer{Command: []string{"cp", "{in}", "{out}"}}}); err != nil {
		t.Fatal(err)
	}
	if update, _ := os.ReadFile(filepath.Join(out, Dir, "update-x64.json")); !strings.Contains(string(update), `"signed": true`) {
		t.Errorf("update.json after a command signed it:\n%s", update)
	}
	for _, c := range []struct {
		cmd  []string
		want string
	}{
		{[]string{"sh", "-c", "echo HSM offline >&2; exit 3"}, "signing unsigned.cab: sh: exit status 3\nHSM offline"},
		{[]string{"true", "{in}", "{out}"}, "it wrote no"},
	} {
		_, err := Make(context.Background(), Options{OutDir: out, Manifest: m, Formats: []string{"cab"}, Signer: &Signer{Command: c.cmd}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Make with %v = %v, want %q", c.cmd, err, c.want)
		}
	}
}
