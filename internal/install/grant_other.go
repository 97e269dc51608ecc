//go:build !windows

package install

import "errors"

// GrantReaders gives Readers read and execute on dir through the Windows security API, which
// only Windows has; inside WSL, WSL.GrantReaders runs icacls.exe instead.
func GrantReaders(string) error {
	return errors.New("granting Windows permissions through the Windows API needs Windows; inside WSL, kbuild install runs icacls.exe")
}
