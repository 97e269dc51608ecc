//go:build !windows

package main

import "errors"

// profileDir: the program edits a Windows user's .wslconfig, and runs on Windows only.
func profileDir() (string, string, error) {
	return "", "", errors.New("wslconfig-action runs on Windows, as the MSI's custom action; elsewhere use kbuild install")
}
