// Command wslconfig-action is the MSI's custom action: a Windows program, built at package time
// from this module (GOOS=windows), that points the installing user's .wslconfig at the kernel
// and modules disk the MSI installed, and puts back what was there on uninstall. It is
// internal/install's editor, the one kbuild install uses and the fuzzer and the table tests
// check: every other byte of .wslconfig kept, in its encoding (UTF-8, with or without a BOM, or
// UTF-16 with one) and line endings; the first kernel= and kernelModules= of [wsl2] replaced
// where they stand; a symlinked .wslconfig's target edited; a file that is no text file, or
// larger than 1 MiB, refused.
//
//	wslconfig-action set -kernel C:\wsl-kernel\<v>\kernel [-modules C:\wsl-kernel\<v>\modules.vhdx]
//	wslconfig-action restore -kernel ... [-modules ...]
//	wslconfig-action grant -kernel ... [-modules ...]
//
// set runs after the MSI installs the files, restore before it removes them (uninstall, and the
// removal of the older version in an upgrade); both are deferred and run as the installing user,
// whose profile holds the .wslconfig. What set replaced is recorded beside it
// (install.MSIRecordName); the old file is kept as .wslconfig.bak-<time>, as kbuild install does.
//
// grant runs right after the files are installed, as LocalSystem (not impersonated: the user may
// not change the permissions of a folder the installer made): it gives install.Readers read and execute
// on the kernel's folder, inherited by its files. WSL 2.7.1 to 2.7.4 attach the modules disk
// without granting the VM access to it (2.7.5 grants it); community kernels grant these.
//
// The profile: the folder the user profile service gives for the process's token
// (GetUserProfileDirectory), since an impersonated custom action runs with the installing user's
// token; %USERPROFILE% (os.UserHomeDir) only if that fails. The token names the user whatever the
// environment the installer service hands the process holds.
//
// Windows Installer shows an EXE custom action's failure only as "a program run as part of the
// setup did not finish as expected" and logs no output of it, so each run appends what it did,
// or why it failed, to %TEMP%\wslconfig-action.log (the user's temporary folder, where
// msiexec's own logs go; grant's, run as LocalSystem, goes to LocalSystem's, under
// C:\Windows), and says it on stderr too. It exits 1 on failure, which fails the
// install (Return="check"): the MSI rolls its files back.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/install"
)

// LogName is the log's name in the user's temporary folder.
const LogName = "wslconfig-action.log"

func main() {
	os.Exit(run(os.Args[1:], profileDir, os.Stderr))
}

const usage = `usage: wslconfig-action set|restore|grant -kernel <path> [-modules <path>]`

// run does what args say for the profile profile finds, reporting to stderr and the log; it
// returns the exit code.
func run(args []string, profile func() (string, string, error), stderr io.Writer) int {
	if len(args) == 0 || args[0] != "set" && args[0] != "restore" && args[0] != "grant" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet(verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o install.Installed
	fs.StringVar(&o.Kernel, "kernel", "", "the installed kernel")
	fs.StringVar(&o.Modules, "modules", "", "the installed modules disk (none: kernelModules= is removed)")
	if err := fs.Parse(args[1:]); err != nil || fs.NArg() != 0 || o.Kernel == "" {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s wslconfig-action %s\n", time.Now().Format(time.RFC3339), strings.Join(args, " "))
	err := func() error {
		if verb == "grant" {
			dir := filepath.Dir(o.Kernel)
			if err := install.GrantReaders(dir); err != nil {
				return err
			}
			install.DescribeGrant(&b, dir)
			return nil
		}
		home, how, err := profile()
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "  profile        %s (%s)\n", home, how)
		o.Home, o.Record, o.Now = home, install.MSIRecordName, time.Now()
		o.Exists = func(p string) bool { _, err := os.Stat(p); return err == nil }
		var res *install.Result
		if verb == "set" {
			res, err = install.Point(o)
		} else {
			res, err = install.Restore(o)
		}
		if res != nil {
			res.Describe(&b)
		}
		return err
	}()
	code := 0
	if err != nil {
		fmt.Fprintf(&b, "  failed         %v\n", err)
		code = 1
	}
	io.WriteString(stderr, b.String())
	if lerr := appendLog(b.String()); lerr != nil {
		fmt.Fprintf(stderr, "writing the log: %v\n", lerr)
	}
	return code
}

func appendLog(text string) error {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), LogName), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}
