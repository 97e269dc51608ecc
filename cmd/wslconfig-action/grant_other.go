//go:build !windows

package main

import "errors"

func grant(string, []string) error {
	return errors.New("wslconfig-action grant sets Windows permissions, and runs on Windows only")
}
