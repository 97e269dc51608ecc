package install

import (
	"fmt"
	"io"
	"strings"
)

// Readers are given read and execute on an installed kernel's folder, inherited by its files:
// BUILTIN\Users, ALL APPLICATION PACKAGES and ALL RESTRICTED APPLICATION PACKAGES, as community
// kernels' installers grant. WSL 2.7.1 to 2.7.4 attach the modules disk without granting the
// utility VM access to it (2.7.5 grants it), and HCS fails with E_ACCESSDENIED on a disk in a
// folder it cannot read, which a folder under the user's profile is (WSL's test
// CustomVhdsInUserProfile).
var Readers = []string{"S-1-5-32-545", "S-1-15-2-1", "S-1-15-2-2"}

// DescribeGrant writes the line that says Readers were given read and execute on dir (a
// Windows path): kbuild install and the MSI's custom action report it so.
func DescribeGrant(w io.Writer, dir string) {
	fmt.Fprintf(w, "  granted        read and execute on %s to %s\n", dir, strings.Join(Readers, ", "))
}

// icaclsGrant is icacls.exe's command line that gives Readers read and execute on the folder
// dir, inherited by the files and folders in it, those already there included (icacls, like
// SetNamedSecurityInfo, carries inheritable entries down).
func icaclsGrant(dir string) []string {
	args := []string{dir, "/grant"}
	for _, sid := range Readers {
		args = append(args, "*"+sid+":(OI)(CI)RX")
	}
	return args
}
