package install

import (
	"fmt"

	"golang.org/x/sys/windows"
)

// GrantReaders gives Readers read and execute on dir, inherited by what is in it, added to the
// folder's DACL (SetNamedSecurityInfo carries inheritable entries down to the files already
// there, as icacls does).
func GrantReaders(dir string) error {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the permissions of %s: %w", dir, err)
	}
	dacl, _, err := sd.DACL()
	if err != nil {
		return fmt.Errorf("reading the permissions of %s: %w", dir, err)
	}
	var entries []windows.EXPLICIT_ACCESS
	for _, s := range Readers {
		sid, err := windows.StringToSid(s)
		if err != nil {
			return fmt.Errorf("%s: %w", s, err)
		}
		entries = append(entries, windows.EXPLICIT_ACCESS{
			AccessPermissions: windows.FILE_GENERIC_READ | windows.FILE_GENERIC_EXECUTE,
			AccessMode:        windows.GRANT_ACCESS,
			Inheritance:       windows.SUB_CONTAINERS_AND_OBJECTS_INHERIT,
			Trustee: windows.TRUSTEE{TrusteeForm: windows.TRUSTEE_IS_SID, TrusteeType: windows.TRUSTEE_IS_WELL_KNOWN_GROUP,
				TrusteeValue: windows.TrusteeValueFromSID(sid)},
		})
	}
	acl, err := windows.ACLFromEntries(entries, dacl)
	if err != nil {
		return fmt.Errorf("adding to the permissions of %s: %w", dir, err)
	}
	if err := windows.SetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, acl, nil); err != nil {
		return fmt.Errorf("setting the permissions of %s: %w", dir, err)
	}
	return nil
}
