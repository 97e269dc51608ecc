package payload

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/testtool"
)

// msiTable is msiinfo export's rows of table, header lines dropped.
func msiTable(t *testing.T, msi, table string) []string {
	t.Helper()
	out, err := exec.Command("msiinfo", "export", msi, table).CombinedOutput()
	if err != nil {
		t.Fatalf("msiinfo export %s %s: %v\n%s", msi, table, err, out)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\r\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], "\r")
	}
	return lines[3:]
}

// makeMSIOf builds the unsigned x64 MSI of the fake run at version, and returns its path.
func makeMSIOf(t *testing.T, version string) string {
	t.Helper()
	fake, _ := fakeRun(t)
	out := fake.OutDir
	fake.Release.Version = version
	if _, err := Make(context.Background(), Options{OutDir: out, Release: fake.Release, Builds: fake.Builds, Formats: []string{"msi"}, MinWindowsBuild: 19045, ActionSource: actionSource}); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, Dir, "wsl-kernel-"+version+"-x64.msi")
}

// The MSI's tables say what Windows Installer will do: install the kernel and modules.vhdx under
// C:\wsl-kernel\<version>, refuse old Windows and downgrades, upgrade an older version, and run
// the installed wslconfig-action.exe: grant as LocalSystem right after the files are installed,
// set as the user last before InstallFinalize, restore before the files are removed.
func TestMSITables(t *testing.T) {
	testtool.Need(t, "wixl", "msiinfo", "faketime")
	msi := makeMSIOf(t, "6.12.118.2")
	upgrade := "{" + guid("upgrade", "linux-msft-wsl", "Windows Subsystem for Linux Kernel", "x64") + "}"
	for _, c := range []struct {
		table string
		want  []string // rows that must be there (one ending in a tab: a row starting so)
		none  []string // substrings no row may hold
	}{
		{"Property", []string{"ProductVersion\t6.12.11802", "UpgradeCode\t" + upgrade, "WSLKERNELVERSION\t6.12.118.2", "ProductName\tWindows Subsystem for Linux Kernel 6.12.118.2"}, nil},
		{"LaunchCondition", []string{
			"NOT WIX_DOWNGRADE_DETECTED\tA newer version of Windows Subsystem for Linux Kernel is already installed: uninstall it first to go back to 6.12.118.2.",
			"Installed OR VersionNT64\tWindows Subsystem for Linux Kernel needs 64-bit Windows.",
			"Installed OR NOT NATIVEARCH OR NATIVEARCH~=\"AMD64\"\tWindows Subsystem for Linux Kernel 6.12.118.2 is the x64 kernel, and this Windows runs on [NATIVEARCH]: WSL boots only a kernel of the machine's own architecture. Install the arm64 kernel (its CAB or NuGet package) instead.",
			"Installed OR WINDOWSBUILD >= 19045\tWindows Subsystem for Linux Kernel needs Windows build 19045 or later."}, nil},
		{"AppSearch", []string{"WINDOWSBUILD\tCurrentBuildNumber", "NATIVEARCH\tProcessorArchitecture"}, nil},
		// Type 18: a raw value (REG_SZ, so no # prefix) from the 64-bit view.
		{"RegLocator", []string{"CurrentBuildNumber\t2\tSOFTWARE\\Microsoft\\Windows NT\\CurrentVersion\tCurrentBuildNumber\t18",
			"ProcessorArchitecture\t2\tSYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment\tPROCESSOR_ARCHITECTURE\t18"}, nil},
		{"Upgrade", []string{upgrade + "\t\t6.12.11802\t\t1\t\tWIX_UPGRADE_DETECTED", upgrade + "\t6.12.11802\t\t\t2\t\tWIX_DOWNGRADE_DETECTED"}, nil},
		{"Directory", []string{"VERSIONDIR\tWSLKERNELDIR\t6.12.118.2", "WSLKERNELDIR\tWindowsVolume\twsl-kernel", "WindowsVolume\tTARGETDIR\t."}, []string{"System64Folder", "lxss"}},
		{"File", []string{"File0\tFile0\tkernel\t200000\t\t\t512\t1", "File1\tFile1\tmodules.vhdx\t300008\t\t\t512\t2", "WslConfigAction\tWslConfigAction\twslconfig-action.exe\t"},
			[]string{"initrd", "\tconfig\t", "modules.vhd\t", "update.json", "wslconfig.ps1"}},
		// 1042 = 18 (run an installed file) + 1024 (deferred); no 2048: set and restore
		// impersonate the installing user, whose .wslconfig they edit. 3090 = 1042 + 2048: grant
		// runs as LocalSystem, which may change the folder's permissions.
		{"CustomAction", []string{
			`GrantReaders	3090	WslConfigAction	grant -kernel "[#File0]" -modules "[#File1]"	`,
			`SetWslConfig	1042	WslConfigAction	set -kernel "[#File0]" -modules "[#File1]"	`,
			`RestoreWslConfig	1042	WslConfigAction	restore -kernel "[#File0]" -modules "[#File1]"	`}, []string{"POWERSHELL", "powershell"}},
		{"InstallExecuteSequence", []string{"CostFinalize\t\t1000", "RemoveExistingProducts\t\t1401", "RestoreWslConfig\tREMOVE~=\"ALL\"\t3499", "RemoveFiles\t\t3500",
			"InstallFiles\t\t4000", "GrantReaders\tNOT REMOVE~=\"ALL\"\t4001", "PublishProduct\t\t6400", "SetWslConfig\tNOT REMOVE~=\"ALL\"\t6500", "InstallFinalize\t\t6600"}, []string{"PowerShell"}},
	} {
		rows := msiTable(t, msi, c.table)
		for _, w := range c.want {
			if !contains(rows, w) && !(strings.HasSuffix(w, "\t") && slices.ContainsFunc(rows, func(r string) bool { return strings.HasPrefix(r, w) })) {
				t.Errorf("%s lacks the row %q; it has:\n%s", c.table, w, strings.Join(rows, "\n"))
			}
		}
		for _, n := range c.none {
			if strings.Contains(strings.Join(rows, "\n"), n) {
				t.Errorf("%s mentions %q:\n%s", c.table, n, strings.Join(rows, "\n"))
			}
		}
	}
	if rows := msiTable(t, msi, "Component"); len(rows) != 3 {
		t.Errorf("Component: %d rows, want 3 (kernel, modules.vhdx, wslconfig-action.exe):\n%s", len(rows), strings.Join(rows, "\n"))
	}
}

func contains(rows []string, row string) bool {
	for _, r := range rows {
		if r == row {
			return true
		}
	}
	return false
}

// A new revision upgrades the old one: the same upgrade code, a new product code, and a
// ProductVersion that Windows Installer (first three fields only) orders after the old one.
func TestMSIUpgradesAnOlderRevision(t *testing.T) {
	testtool.Need(t, "wixl", "msiinfo", "faketime")
	var prev struct{ code, upgrade, version string }
	for _, v := range []struct{ version, product string }{
		{"6.12.118.1", "6.12.11801"}, {"6.12.118.2", "6.12.11802"}, {"6.12.119.1", "6.12.11901"}, {"6.18.1.1", "6.18.101"},
	} {
		props := map[string]string{}
		for _, row := range msiTable(t, makeMSIOf(t, v.version), "Property") {
			if k, val, ok := strings.Cut(row, "\t"); ok {
				props[k] = val
			}
		}
		if props["ProductVersion"] != v.product {
			t.Errorf("%s: ProductVersion %s, want %s", v.version, props["ProductVersion"], v.product)
		}
		if prev.code != "" && (props["ProductCode"] == prev.code || props["UpgradeCode"] != prev.upgrade || !msiVersionLess(prev.version, props["ProductVersion"])) {
			t.Errorf("%s does not upgrade the one before: %v after %+v", v.version, props, prev)
		}
		prev.code, prev.upgrade, prev.version = props["ProductCode"], props["UpgradeCode"], props["ProductVersion"]
	}
}

// msiVersionLess compares as Windows Installer does: major, minor, build as numbers.
func msiVersionLess(a, b string) bool {
	var x, y [3]int
	fmt.Sscanf(a, "%d.%d.%d", &x[0], &x[1], &x[2])
	fmt.Sscanf(b, "%d.%d.%d", &y[0], &y[1], &y[2])
	for i := range x {
		if x[i] != y[i] {
			return x[i] < y[i]
		}
	}
	return false
}

func TestMSIVersion(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"6.12.118.2", "6.12.11802", ""},
		{"6.6.87.2", "6.6.8702", ""},
		{"4.14.336.1", "4.14.33601", ""},
		{"6.12.655.99", "6.12.65599", ""},
		{"6.12.656.1", "", "does not fit"},
		{"6.12.118.100", "", "does not fit"},
		{"6.12.118", "", "is not <x.y.z>.<rev>"},
		{"6.12.118.01", "", "is not <x.y.z>.<rev>"},
	} {
		got, err := msiVersion(c.in)
		if got != c.want || (c.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("msiVersion(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
	}
}
