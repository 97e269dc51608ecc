package pipeline

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// lockWorkDir takes the work dir for one command: two runs in one work dir would build in the
// same trees and rewrite each other's outputs. A second one fails at once, naming the holder.
// The lock dies with its process, so a killed run leaves nothing to clean up.
func lockWorkDir(workDir, what string) (func(), error) {
	if err := os.MkdirAll(workDir, 0o755); err != nil {
		return nil, err
	}
	path := filepath.Join(workDir, ".kbuild.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		who := strings.TrimSpace(string(holder))
		if who == "" {
			who = "another process"
		}
		return nil, fmt.Errorf("the work dir %s is in use by %s: one run at a time per work dir; wait for it to finish, or use another --work-dir", workDir, who)
	}
	f.Truncate(0)
	fmt.Fprintf(f, "pid %d (kbuild %s, since %s)\n", os.Getpid(), what, time.Now().UTC().Format(time.RFC3339))
	return func() {
		f.Truncate(0)
		f.Close()
	}, nil
}
