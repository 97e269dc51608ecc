package payload

import (
	"bytes"
	"os"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
)

func newPGPKey() ([]byte, error) {
	e, err := openpgp.NewEntity("wslkernel release", "", "release@wslkernel.invalid", nil)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PrivateKeyType, nil)
	if err != nil {
		return nil, err
	}
	if err := e.SerializePrivate(w, nil); err != nil {
		return nil, err
	}
	w.Close()
	return buf.Bytes(), nil
}

func verifyPGP(keyFile, data, sig string) error {
	kf, err := os.Open(keyFile)
	if err != nil {
		return err
	}
	defer kf.Close()
	keys, err := openpgp.ReadArmoredKeyRing(kf)
	if err != nil {
		return err
	}
	d, _ := os.Open(data)
	defer d.Close()
	s, _ := os.Open(sig)
	defer s.Close()
	_, err = openpgp.CheckArmoredDetachedSignature(keys, d, s, nil)
	return err
}
