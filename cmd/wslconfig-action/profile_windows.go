package main

import (
	"os"

	"golang.org/x/sys/windows"
)

// profileDir is the profile folder of the user whose token the process runs with, and how it
// was found.
func profileDir() (dir, how string, err error) {
	if dir, err := windows.GetCurrentProcessToken().GetUserProfileDirectory(); err == nil && dir != "" {
		return dir, "the process token's profile", nil
	}
	dir, err = os.UserHomeDir()
	return dir, "%USERPROFILE%", err
}
