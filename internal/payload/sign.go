package payload

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"software.sslmate.com/src/go-pkcs12"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// Signer signs CAB and MSI files with Authenticode: osslsigncode with a PKCS#12 bundle or a PEM
// certificate and key, or an external command (an HSM, a signing service).
type Signer struct {
	PKCS12   string // a .p12/.pfx bundle
	Password string // its password; never printed, passed to osslsigncode through a pipe
	Cert     string // or a PEM certificate (leaf first, then its chain)
	Key      string // and its PEM private key
	// Command signs {in} into {out}: each argument has those two replaced.
	Command []string
	// TimestampURL is an RFC 3161 time-stamping authority: its countersignature proves the
	// signature was made while the certificate was valid, so Windows still accepts it after the
	// certificate expires. A timestamp holds the TSA's clock and serial number, so timestamped
	// payloads differ from run to run; without one they are byte-reproducible. Not used with
	// Command, which signs (and timestamps) its own way.
	TimestampURL string
	Subject      string // the certificate's subject, once Check has read it
}

// Incomplete says what a half-set signer lacks (a certificate without its key, or a key without
// its certificate), naming the settings that supply it; "" when the signer can sign.
func (s *Signer) Incomplete() string {
	switch {
	case len(s.Command) > 0 || s.PKCS12 != "" || (s.Cert != "" && s.Key != ""):
		return ""
	case s.Cert != "":
		return fmt.Sprintf("the certificate %s has no key: set package.signing.key or WSLKERNEL_SIGN_KEY", s.Cert)
	case s.Key != "":
		return fmt.Sprintf("the key %s has no certificate: set package.signing.cert or WSLKERNEL_SIGN_CERT", s.Key)
	}
	return "set a PKCS#12 bundle, or a certificate and a key, or a command"
}

// Check reads the certificate and key and refuses what osslsigncode would sign badly or not at
// all: a key that is not the certificate's, a certificate not valid at now, one without the
// code-signing extended key usage. An external command is trusted as it is.
func (s *Signer) Check(now time.Time) error {
	if len(s.Command) > 0 {
		return nil
	}
	var leaf *x509.Certificate
	var key crypto.PrivateKey
	var where string
	switch {
	case s.PKCS12 != "":
		where = s.PKCS12
		data, err := os.ReadFile(s.PKCS12)
		if err != nil {
			return fmt.Errorf("signing: %w", err)
		}
		if key, leaf, _, err = pkcs12.DecodeChain(data, s.Password); err != nil {
			return fmt.Errorf("signing: %s: %v (a wrong password reads as a decryption or MAC error)", s.PKCS12, err)
		}
	case s.Cert != "" && s.Key != "":
		where = s.Cert
		var err error
		if leaf, err = readCert(s.Cert); err != nil {
			return err
		}
		if key, err = readKey(s.Key); err != nil {
			return err
		}
	default:
		return errors.New("signing: " + s.Incomplete())
	}
	pub, ok := key.(interface{ Public() crypto.PublicKey })
	if !ok {
		return fmt.Errorf("signing: %s: unsupported key type %T", where, key)
	}
	if eq, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(pub.Public()) {
		return fmt.Errorf("signing: the key does not match the certificate %s (%s)", where, leaf.Subject)
	}
	if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return fmt.Errorf("signing: the certificate %s (%s) is valid from %s to %s, not now (%s)", where, leaf.Subject,
			leaf.NotBefore.UTC().Format(time.DateOnly), leaf.NotAfter.UTC().Format(time.DateOnly), now.UTC().Format(time.DateOnly))
	}
	if !slices.Contains(leaf.ExtKeyUsage, x509.ExtKeyUsageCodeSigning) {
		return fmt.Errorf("signing: the certificate %s (%s) is not a code-signing certificate: its extended key usage lacks codeSigning", where, leaf.Subject)
	}
	s.Subject = leaf.Subject.String()
	return nil
}

func readCert(path string) (*x509.Certificate, error) {
	b, err := pemBlock(path, "PEM CERTIFICATE", "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("signing: %s: %w", path, err)
	}
	return cert, nil
}

func readKey(path string) (crypto.PrivateKey, error) {
	b, err := pemBlock(path, "PEM private key (an encrypted key needs PKCS#12 instead)", "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	switch b.Type {
	case "RSA PRIVATE KEY":
		return x509.ParsePKCS1PrivateKey(b.Bytes)
	case "EC PRIVATE KEY":
		return x509.ParseECPrivateKey(b.Bytes)
	}
	return x509.ParsePKCS8PrivateKey(b.Bytes)
}

// pemBlock is the first PEM block in path of one of types; what names them in the error.
func pemBlock(path, what string, types ...string) (*pem.Block, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	for rest := data; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			return nil, fmt.Errorf("signing: %s holds no %s", path, what)
		}
		if slices.Contains(types, b.Type) {
			return b, nil
		}
	}
}

// Sign signs in into out (a new file), SHA-256, with the signing time fixed to when so the same
// inputs give the same signed bytes (unless a timestamp is asked for), and with an RFC 3161
// timestamp from TimestampURL when set. desc is the description Windows shows.
func (s *Signer) Sign(ctx context.Context, run runner.Runner, in, out, desc string, when time.Time) error {
	var output bytes.Buffer
	if len(s.Command) > 0 {
		args := make([]string, len(s.Command))
		for i, a := range s.Command {
			args[i] = strings.NewReplacer("{in}", in, "{out}", out).Replace(a)
		}
		if err := run.Run(ctx, args[0], args[1:], nil, &output); err != nil {
			return fmt.Errorf("signing %s: %v\n%s", filepath.Base(in), err, redact(output.String(), s.Password))
		}
		if _, err := os.Stat(out); err != nil {
			return fmt.Errorf("signing %s with %s: it wrote no %s", filepath.Base(in), s.Command[0], out)
		}
		return nil
	}
	args := []string{"sign", "-h", "sha256", "-n", desc, "-time", strconv.FormatInt(when.Unix(), 10)}
	// The password goes through osslsigncode's stdin, a pipe: never in argv (which any user can
	// read) nor in a file, which a kill would leave behind.
	var stdin io.Reader = strings.NewReader("")
	if s.PKCS12 != "" {
		args = append(args, "-pkcs12", s.PKCS12, "-readpass", "/dev/stdin")
		stdin = strings.NewReader(s.Password)
	} else {
		args = append(args, "-certs", s.Cert, "-key", s.Key)
	}
	if s.TimestampURL != "" {
		args = append(args, "-ts", s.TimestampURL)
	}
	args = append(args, "-in", in, "-out", out)
	// Filter, for its stdin: osslsigncode's complaints (on stderr) go into its error.
	if err := run.Filter(ctx, "osslsigncode", args, nil, stdin, &output); err != nil {
		hint := ""
		if s.TimestampURL != "" {
			hint = fmt.Sprintf(" (timestamping by %s: if that server is unreachable, fix package.signing.timestamp_url or WSLKERNEL_SIGN_TSA)", s.TimestampURL)
		}
		return fmt.Errorf("signing %s%s: %s\n%s", filepath.Base(in), hint, redact(err.Error(), s.Password), redact(output.String(), s.Password))
	}
	return nil
}

// redact keeps a password out of a tool's output that goes into an error.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	return strings.ReplaceAll(s, secret, "[redacted]")
}
