package payload

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// tsaConfig is what openssl ts -reply needs of a TSA.
const tsaConfig = `[ tsa ]
default_tsa = tsa1
[ tsa1 ]
serial = %s
crypto_device = builtin
signer_digest = sha256
default_policy = 1.3.6.1.4.1.99999.1
other_policies = 1.3.6.1.4.1.99999.2
digests = sha256, sha384, sha512
accuracy = secs:1
ordering = yes
tsa_name = no
ess_cert_id_chain = no
ess_cert_id_alg = sha256
`

// loopbackTSA serves RFC 3161 on 127.0.0.1: each request goes through the real openssl ts
// -reply, signed by a TSA certificate of its own CA. It returns the URL and the CA's PEM file.
func loopbackTSA(t *testing.T) (url, caPEM string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(10), Subject: pkix.Name{CommonName: "wslkernel test TSA CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	ca, _ := x509.ParseCertificate(caDER)
	// RFC 3161 wants the timeStamping extended key usage alone and critical; Go writes it
	// non-critical, so it goes in as an extra extension.
	eku, _ := asn1.Marshal([]asn1.ObjectIdentifier{{1, 3, 6, 1, 5, 5, 7, 3, 8}})
	key, _ := rsa.GenerateKey(rand.Reader, 2048)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(11), Subject: pkix.Name{CommonName: "wslkernel test TSA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(10, 0, 0), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: true, Value: eku}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	files := map[string][]byte{"ca.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		"tsa.pem": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), "tsa.key": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		"serial": []byte("01\n"), "tsa.cnf": []byte(strings.Replace(tsaConfig, "%s", filepath.Join(dir, "serial"), 1))}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex // openssl ts keeps its serial number in a file
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/timestamp-query" {
			http.Error(w, "want a POST of application/timestamp-query", http.StatusBadRequest)
			return
		}
		query, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		cmd := exec.Command("openssl", "ts", "-reply", "-config", filepath.Join(dir, "tsa.cnf"), "-queryfile", "/dev/stdin",
			"-inkey", filepath.Join(dir, "tsa.key"), "-signer", filepath.Join(dir, "tsa.pem"), "-chain", filepath.Join(dir, "ca.pem"), "-out", "/dev/stdout")
		cmd.Stdin = bytes.NewReader(query)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		reply, err := cmd.Output()
		if err != nil {
			http.Error(w, "openssl ts -reply: "+err.Error()+"\n"+stderr.String(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/timestamp-reply")
		w.Write(reply)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, filepath.Join(dir, "ca.pem")
}

// A timestamped signature outlives its certificate: once the certificate has expired (faketime
// two days on), osslsigncode still verifies the CAB and MSI signed with a timestamp, and fails
// the ones signed without.
func TestTimestampOutlivesTheCertificate(t *testing.T) {
	testtool.Need(t, "osslsigncode", "openssl", "faketime", "wixl", "msiinfo")
	tsaURL, tsaCA := loopbackTSA(t)
	caPEM, certPEM, keyPEM, _, _, _ := throwawayCA(t, func(c *x509.Certificate) { c.NotAfter = time.Now().Add(time.Hour) })
	payloads := map[bool]string{}
	for _, stamped := range []bool{true, false} {
		fake, _ := fakeRun(t)
		out := fake.OutDir
		s := &Signer{Cert: certPEM, Key: keyPEM}
		if stamped {
			s.TimestampURL = tsaURL
		}
		if _, err := Make(context.Background(), Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab", "msi"}, Signer: s, ActionSource: actionSource}); err != nil {
			t.Fatal(err)
		}
		payloads[stamped] = filepath.Join(out, Dir)
	}
	for _, name := range []string{"wsl-kernel-6.12.118.1-x64.cab", "wsl-kernel-6.12.118.1-x64.msi"} {
		stamped, plain := filepath.Join(payloads[true], name), filepath.Join(payloads[false], name)
		if out := verifySigned(t, caPEM, stamped, []string{"-TSA-CAfile", tsaCA}); !strings.Contains(out, "Timestamp Server Signature verification: ok") {
			t.Errorf("%s has no timestamp that verifies:\n%s", name, out)
		}
		later := func(file string) (string, error) {
			out, err := exec.Command("faketime", "-f", "+2d", "osslsigncode", "verify", "-CAfile", caPEM, "-TSA-CAfile", tsaCA, "-in", file).CombinedOutput()
			return string(out), err
		}
		if out, err := later(stamped); err != nil || !strings.Contains(out, "Signature verification: ok") {
			t.Errorf("%s, timestamped, two days after the certificate expired: %v\n%s", name, err, out)
		}
		if out, err := later(plain); err == nil || !strings.Contains(out, "certificate has expired") {
			t.Errorf("%s, not timestamped, after the certificate expired: want a failure for the expired certificate, got %v\n%s", name, err, out)
		}
	}
	// A TSA that does not answer fails the package, naming the URL and where it is set.
	fake, _ := fakeRun(t)
	out := fake.OutDir
	_, err := Make(context.Background(), Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"cab"},
		Signer: &Signer{Cert: certPEM, Key: keyPEM, TimestampURL: "http://127.0.0.1:1/"}})
	if err == nil || !strings.Contains(err.Error(), "timestamping by http://127.0.0.1:1/") || !strings.Contains(err.Error(), "WSLKERNEL_SIGN_TSA") {
		t.Errorf("Make with an unreachable TSA = %v", err)
	}
}
