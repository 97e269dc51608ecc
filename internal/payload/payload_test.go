package payload

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"debug/pe"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	mathrand "math/rand/v2"
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
	"github.com/wslkernel/wslkernel/internal/vdisk"
)

var released = time.Date(2026, 11, 21, 12, 56, 2, 0, time.UTC)

// actionSource is cmd/wslconfig-action, the MSI's custom action, from this package's folder.
const actionSource = "../../cmd/wslconfig-action"

// fakeRun writes an out dir as kbuild run leaves it, for two arches, and the options that
// package it as the package stage fills them from the run's state. The contents are the same on
// every call (a fixed seed), as two clean builds of a release give.
func fakeRun(t *testing.T) (Options, map[string][]byte) {
	t.Helper()
	out := t.TempDir()
	o := Options{OutDir: out, Release: Release{Line: "linux-msft-wsl", Version: "6.12.118.1", KernelRelease: "6.12.118.1-microsoft-standard-WSL2",
		Tag: "v6.12.118", Commit: strings.Repeat("c", 40), CommitTime: released, Signer: "81BD140BD3698A566C928548294EF09788CB746A",
		Branch: "linux-msft-wsl-6.12.y", BranchHead: strings.Repeat("b", 40)}}
	contents := map[string][]byte{}
	seed := mathrand.NewChaCha8([32]byte{'w', 's', 'l'})
	for _, arch := range []string{"x86_64", "arm64"} {
		b := Build{Arch: arch}
		os.MkdirAll(filepath.Join(out, arch), 0o755)
		kernel := make([]byte, 200000)
		seed.Read(kernel)
		for _, f := range []struct {
			name string
			data []byte
			to   *File // nil: a build output no payload carries
		}{
			{"kernel", kernel, &b.Kernel},
			{"initrd.img", []byte("initrd " + arch), nil},
			{"modules.vhdx", append([]byte("vhdxfile"), make([]byte, 300000)...), &b.ModulesVHDX},
			{"modules.vhd", fakeVHD(t, 300032), &b.ModulesVHD},
			{"config", []byte("CONFIG_HYPERV=y\n"), nil},
		} {
			p := filepath.Join(out, arch, f.name)
			os.WriteFile(p, f.data, 0o644)
			if f.to != nil {
				*f.to = File{Path: p, SHA256: fmt.Sprintf("%x", sha256.Sum256(f.data))}
			}
			contents[arch+"/"+f.name] = f.data
		}
		o.Builds = append(o.Builds, b)
	}
	return o, contents
}

// fakeVHD is a fixed VHD (vdisk's) of an image of size bytes that is all zeros but the ext4
// superblock's magic, which is what checkDisk reads of the file system.
func fakeVHD(t *testing.T, size int) []byte {
	t.Helper()
	img := make([]byte, size)
	binary.LittleEndian.PutUint16(img[ext4MagicAt:], 0xEF53)
	var b bytes.Buffer
	if err := vdisk.WriteFixedVHD(&b, bytes.NewReader(img), int64(size), []byte("fake"), released); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// rewrite replaces a build output of the fake run, and the SHA-256 its build recorded.
func rewrite(t *testing.T, o *Options, arch string, file func(*Build) *File, edit func([]byte) []byte) {
	t.Helper()
	f := file(&o.Builds[slices.IndexFunc(o.Builds, func(b Build) bool { return b.Arch == arch })])
	data, _ := os.ReadFile(f.Path)
	data = edit(data)
	if err := os.WriteFile(f.Path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	f.SHA256 = fmt.Sprintf("%x", sha256.Sum256(data))
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
	fake, contents := fakeRun(t)
	out := fake.OutDir
	caPEM, certPEM, keyPEM, key, cert, ca := throwawayCA(t, nil)
	o := Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab", "msi", "nuget"}, Supersedes: "6.12.117.1", NugetRevision: 2, ActionSource: actionSource,
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
	want := "Microsoft.WSL.Kernel.6.12.118.1-2.nupkg update-arm64.json update-x64.json wsl-kernel-6.12.118.1-arm64.cab wsl-kernel-6.12.118.1-x64.cab wsl-kernel-6.12.118.1-x64.msi"
	if got := strings.Join(names, " "); got != want {
		t.Fatalf("payloads %s\nwant     %s", got, want)
	}
	for _, name := range []string{"wsl-kernel-6.12.118.1-x64.cab", "wsl-kernel-6.12.118.1-arm64.cab", "wsl-kernel-6.12.118.1-x64.msi"} {
		verifySigned(t, caPEM, filepath.Join(pkg, name), nil)
	}
	// The CABs: cabextract tests and extracts them, byte for byte; gcab lists them. They hold the
	// kernel and modules.vhdx and nothing else.
	for _, win := range []string{"x64", "arm64"} {
		arch := map[string]string{"x64": "x86_64", "arm64": "arm64"}[win]
		p := filepath.Join(pkg, "wsl-kernel-6.12.118.1-"+win+".cab")
		if msg, err := exec.Command("cabextract", "-t", p).CombinedOutput(); err != nil || !strings.Contains(string(msg), "All done, no errors") {
			t.Errorf("cabextract -t %s: %v\n%s", p, err, msg)
		}
		wantList := fmt.Sprintf("kernel %d 2026-11-21 12:56:02 0x20\nmodules.vhdx %d 2026-11-21 12:56:02 0x20\n", len(contents[arch+"/kernel"]), len(contents[arch+"/modules.vhdx"]))
		if list, err := exec.Command("gcab", "-l", p).CombinedOutput(); err != nil || string(list) != wantList {
			t.Errorf("gcab -l %s = %q, %v; want %q", p, list, err, wantList)
		}
		x := t.TempDir()
		if msg, err := exec.Command("cabextract", "-q", "-d", x, p).CombinedOutput(); err != nil {
			t.Fatalf("cabextract %s: %v\n%s", p, err, msg)
		}
		if got := listDir(t, x); got != "kernel modules.vhdx" {
			t.Errorf("%s: cabextract wrote %s, want kernel modules.vhdx", win, got)
		}
		for _, name := range []string{"kernel", "modules.vhdx"} {
			if got, _ := os.ReadFile(filepath.Join(x, name)); !bytes.Equal(got, contents[arch+"/"+name]) {
				t.Errorf("%s: extracted %s differs from the build's", win, name)
			}
		}
	}
	// The MSI: msiextract gives our files where the MSI installs them.
	x := t.TempDir()
	if msg, err := exec.Command("msiextract", "-C", x, filepath.Join(pkg, "wsl-kernel-6.12.118.1-x64.msi")).CombinedOutput(); err != nil {
		t.Fatalf("msiextract: %v\n%s", err, msg)
	}
	for name, want := range map[string][]byte{"kernel": contents["x86_64/kernel"], "modules.vhdx": contents["x86_64/modules.vhdx"]} {
		if got, _ := os.ReadFile(filepath.Join(x, "wsl-kernel/6.12.118.1", name)); !bytes.Equal(got, want) {
			found, _ := exec.Command("find", x).Output()
			t.Errorf("msiextract's %s differs; it wrote:\n%s", name, found)
		}
	}
	// Beside them the custom action: a signed x64 Windows program.
	action := filepath.Join(x, "wsl-kernel/6.12.118.1", actionName)
	verifySigned(t, caPEM, action, nil)
	if f, err := pe.Open(action); err != nil || f.Machine != pe.IMAGE_FILE_MACHINE_AMD64 || f.Characteristics&pe.IMAGE_FILE_DLL != 0 {
		t.Errorf("%s is no x64 program: %v", actionName, err)
	}
	checkNuget(t, filepath.Join(pkg, "Microsoft.WSL.Kernel.6.12.118.1-2.nupkg"), contents)
	checkUpdates(t, pkg, contents, true)
	// SHA256SUMS names every payload with its hash.
	sums, _ := os.ReadFile(filepath.Join(pkg, "SHA256SUMS"))
	for _, f := range files {
		if !strings.Contains(string(sums), f.SHA256+"  "+filepath.Base(f.Path)+"\n") {
			t.Errorf("SHA256SUMS lacks %s", f.Path)
		}
	}
	// A PKCS#12 bundle signs too; its password reaches osslsigncode through a pipe (see
	// TestSignPasswordLeavesNoFile), not argv.
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
	verifySigned(t, caPEM, filepath.Join(pkg, "wsl-kernel-6.12.118.1-x64.cab"), nil)
}

// verifySigned checks with osslsigncode verify that file's Authenticode signature chains to caPEM;
// extra arguments (-TSA-CAfile) go before -in.
func verifySigned(t *testing.T, caPEM, file string, extra []string) string {
	t.Helper()
	args := append(append([]string{"verify", "-CAfile", caPEM}, extra...), "-in", file)
	out, err := exec.Command("osslsigncode", args...).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Signature verification: ok") {
		t.Errorf("osslsigncode %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// listDir is the names in dir, sorted, space-separated.
func listDir(t *testing.T, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return strings.Join(names, " ")
}

// checkNuget opens the package as any zip reader does and checks the nuspec's required fields
// and that build/native/bin/<arch>/ holds exactly kernel and modules.vhd, the build's.
func checkNuget(t *testing.T, path string, contents map[string][]byte) {
	t.Helper()
	zr, err := zip.OpenReader(path)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	entries := map[string][]byte{}
	var names []string
	for _, f := range zr.File {
		r, _ := f.Open()
		entries[f.Name], _ = io.ReadAll(r)
		r.Close()
		names = append(names, f.Name)
	}
	want := "_rels/.rels Microsoft.WSL.Kernel.nuspec build/native/bin/x64/kernel build/native/bin/x64/modules.vhd " +
		"build/native/bin/arm64/kernel build/native/bin/arm64/modules.vhd [Content_Types].xml"
	if got := strings.Join(names, " "); got != want {
		t.Errorf("nupkg entries %s\nwant         %s", got, want)
	}
	nuspec := string(entries["Microsoft.WSL.Kernel.nuspec"])
	for _, want := range []string{"<id>Microsoft.WSL.Kernel</id>", "<version>6.12.118.1-2</version>", "<authors>linux-msft-wsl</authors>", "<description>",
		`<repository type="git" url="https://github.com/wslkernel/WSL2-Linux-Kernel.git" branch="linux-msft-wsl-6.12.y" commit="` + strings.Repeat("b", 40) + `"/>`} {
		if !strings.Contains(nuspec, want) {
			t.Errorf("nuspec lacks %s:\n%s", want, nuspec)
		}
	}
	for _, arch := range []string{"x86_64", "arm64"} {
		for _, name := range []string{"kernel", "modules.vhd"} {
			if !bytes.Equal(entries["build/native/bin/"+WindowsArch(arch)+"/"+name], contents[arch+"/"+name]) {
				t.Errorf("nupkg %s/%s differs from the build's", arch, name)
			}
		}
	}
}

// checkUpdates reads update-<arch>.json beside the payloads: what they say must be true of the
// files there, and of the build.
func checkUpdates(t *testing.T, pkg string, contents map[string][]byte, signed bool) {
	t.Helper()
	for _, win := range []string{"x64", "arm64"} {
		arch := map[string]string{"x64": "x86_64", "arm64": "arm64"}[win]
		data, err := os.ReadFile(filepath.Join(pkg, "update-"+win+".json"))
		if err != nil {
			t.Fatal(err)
		}
		var up Update
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&up); err != nil {
			t.Fatalf("update-%s.json: %v\n%s", win, err, data)
		}
		if up.Schema != 2 || up.Version != "6.12.118.1" || up.Arch != win || up.Signed != signed || up.Supersedes != "6.12.117.1" || up.Upstream.Tag != "v6.12.118" {
			t.Errorf("update-%s.json = %+v", win, up)
		}
		var files []string
		for _, f := range up.Files {
			files = append(files, f.Name)
			if data := contents[arch+"/"+f.Name]; f.Size != int64(len(data)) || f.SHA256 != fmt.Sprintf("%x", sha256.Sum256(data)) {
				t.Errorf("update-%s.json says %s is %d bytes, sha256 %s; the build's is %d bytes", win, f.Name, f.Size, f.SHA256, len(data))
			}
		}
		if got := strings.Join(files, " "); got != "kernel modules.vhdx modules.vhd" {
			t.Errorf("update-%s.json files: %s", win, got)
		}
		for _, p := range up.Payloads {
			d, err := manifest.Describe("", "", filepath.Join(pkg, p.Name))
			if err != nil || d.SHA256 != p.SHA256 || d.Size != p.Size {
				t.Errorf("update-%s.json payload %s (%d bytes, %s) is not the file beside it: %+v, %v", win, p.Name, p.Size, p.SHA256, d, err)
			}
		}
		wantMSI := win == "x64"
		if hasMSI := strings.Contains(strings.Join(up.Rollback, "\n"), "uninstalling the MSI"); hasMSI != wantMSI || !strings.HasPrefix(up.Rollback[0], "kbuild install --rollback") {
			t.Errorf("update-%s.json rollback: %q", win, up.Rollback)
		}
	}
}

func TestUnsignedIsMarkedAndPGPSignsTheSums(t *testing.T) {
	testtool.Need(t, "cabextract")
	fake, _ := fakeRun(t)
	out := fake.OutDir
	keyFile := filepath.Join(t.TempDir(), "release.asc")
	entity, err := newPGPKey()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(keyFile, entity, 0o600)
	if _, err := Make(context.Background(), Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab"}, OpenPGPKey: keyFile}); err != nil {
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
	testtool.Need(t, "osslsigncode", "wixl", "msiinfo", "faketime")
	_, certPEM, _, _, _, _ := throwawayCA(t, nil)
	_, expiredPEM, expiredKey, _, _, _ := throwawayCA(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(-time.Minute) })
	_, tlsPEM, tlsKey, _, _, _ := throwawayCA(t, func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} })
	for _, c := range []struct {
		name   string
		signer *Signer
		edit   func(o *Options)
		want   string
	}{
		{"key of another certificate", &Signer{Cert: certPEM, Key: tlsKey}, nil, "the key does not match the certificate"},
		{"expired", &Signer{Cert: expiredPEM, Key: expiredKey}, nil, "not now"},
		{"not code signing", &Signer{Cert: tlsPEM, Key: tlsKey}, nil, "is not a code-signing certificate"},
		{"wrong PKCS#12 password", &Signer{PKCS12: certPEM, Password: "x"}, nil, "signing: " + certPEM},
		{"missing kernel", nil, func(o *Options) { os.Remove(filepath.Join(o.OutDir, "arm64/kernel")) }, "missing build artifact"},
		{"changed kernel", nil, func(o *Options) {
			os.WriteFile(filepath.Join(o.OutDir, "arm64/kernel"), []byte("x"), 0o644)
		}, "changed since the build"},
		{"modules.vhdx without modules.vhd", nil, func(o *Options) { o.Builds[0].ModulesVHD = File{} }, "the run has no modules-vhd for x86_64"},
		{"no kernel in the run", nil, func(o *Options) { o.Builds[1].Kernel = File{} }, "the run has no kernel for arm64"},
		{"no builds", nil, func(o *Options) { o.Builds = nil }, "the run has no builds to package"},
		// Modules disks WSL would not mount: Windows opens a disk by its extension; the NuGet's
		// modules.vhd is a fixed VHD; WSL's init mounts ext4.
		{"modules.vhdx that is no VHDX", nil, func(o *Options) {
			rewrite(t, o, "x86_64", func(b *Build) *File { return &b.ModulesVHDX }, func(b []byte) []byte { return b[8:] })
		}, "x86_64/modules.vhdx is not a VHDX (no vhdxfile signature)"},
		{"modules.vhd that is no VHD", nil, func(o *Options) {
			rewrite(t, o, "arm64", func(b *Build) *File { return &b.ModulesVHD }, func(b []byte) []byte { return b[:len(b)-512] })
		}, "arm64/modules.vhd is not a fixed VHD (no conectix footer in its last 512 bytes)"},
		{"dynamic modules.vhd", nil, func(o *Options) {
			rewrite(t, o, "x86_64", func(b *Build) *File { return &b.ModulesVHD }, func(b []byte) []byte { b[len(b)-512+63] = 3; return b })
		}, "x86_64/modules.vhd is a dynamic VHD; the NuGet package's modules.vhd is a fixed one"},
		{"modules.vhd cut short", nil, func(o *Options) {
			rewrite(t, o, "x86_64", func(b *Build) *File { return &b.ModulesVHD }, func(b []byte) []byte { return b[512:] })
		}, "its footer says 300032 bytes, the disk holds 299520"},
		{"modules.vhd without ext4", nil, func(o *Options) {
			rewrite(t, o, "x86_64", func(b *Build) *File { return &b.ModulesVHD }, func(b []byte) []byte { b[ext4MagicAt] = 0; return b })
		}, "x86_64/modules.vhd holds no ext4 file system (no superblock magic at byte 1080)"},
		{"version the MSI cannot encode", nil, func(o *Options) { o.Release.Version = "6.12.118.100" }, "does not fit an MSI ProductVersion"},
	} {
		o, _ := fakeRun(t)
		o.Formats, o.Signer, o.ActionSource = []string{"cab", "msi"}, c.signer, actionSource
		if c.edit != nil {
			c.edit(&o)
		}
		wantRefused(t, c.name, o, c.want)
	}
	// An output folder that cannot be written (here: a file stands where it should be).
	fake, _ := fakeRun(t)
	blocked := filepath.Join(fake.OutDir, "x86_64", "kernel")
	if _, err := Make(context.Background(), Options{OutDir: blocked, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab"}}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Make into a file = %v", err)
	}
}

// An external signing command (an HSM, a signing service) gets {in} and {out}; a command that
// fails, or writes nothing, fails the package with its output.
func TestExternalSigningCommand(t *testing.T) {
	fake, _ := fakeRun(t)
	out := fake.OutDir
	if _, err := Make(context.Background(), Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab"},
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
		_, err := Make(context.Background(), Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab"}, Signer: &Signer{Command: c.cmd}})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Make with %v = %v, want %q", c.cmd, err, c.want)
		}
	}
}

// wantRefused checks that Make refuses o with an error holding want, and leaves no payload
// folder behind, not even a half-written one.
func wantRefused(t *testing.T, name string, o Options, want string) {
	t.Helper()
	_, err := Make(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: Make = %v, want %q", name, err, want)
	}
	if left, _ := filepath.Glob(filepath.Join(o.OutDir, "*packages*")); len(left) != 0 {
		t.Errorf("%s: left %v", name, left)
	}
}
