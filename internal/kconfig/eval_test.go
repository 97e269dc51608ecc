package kconfig

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// evalKconfig is a tree with what Check and Replay must get right, and olddefconfig's output
// for evalInput, as Linux 7.3's scripts/kconfig/conf wrote it (the agreement test runs the same
// kind of case through each real tree's conf: language_test.go).
const (
	evalKconfig = `config MODULES
	bool "modules"
	modules
config USB
	tristate "usb"
config USB_GADGET
	tristate "gadget"
config CDNS3
	tristate "cdns3"
	depends on USB if !USB_GADGET
config NEW_NAME
	bool "new"
	default OLD_NAME
config OLD_NAME
	bool
	transitional
config COUNT
	int "count"
	range 2 8
	default 4
config HIDDEN
	int
	default COUNT
choice
	prompt "mode"
	default FAST if USB
config SLOW
	bool "slow"
config FAST
	bool "fast"
endchoice
`
	evalInput  = "CONFIG_MODULES=y\nCONFIG_USB_GADGET=m\nCONFIG_CDNS3=y\nCONFIG_OLD_NAME=y\nCONFIG_COUNT=99\n"
	evalOutput = `CONFIG_MODULES=y
# CONFIG_USB is not set
CONFIG_USB_GADGET=m
CONFIG_CDNS3=y
CONFIG_NEW_NAME=y
CONFIG_COUNT=8
CONFIG_HIDDEN=8
CONFIG_SLOW=y
# CONFIG_FAST is not set
`
)

func evalRules(t *testing.T) *Rules {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "Kconfig"), []byte(evalKconfig), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := LoadRulesArch(dir, "x86_64", "x86")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func findings(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.String())
	}
	return out
}

func TestCheckAndReplayAgreeWithTheKernel(t *testing.T) {
	r := evalRules(t)
	final := mustParse(t, evalOutput, ".config")
	if res := r.Check(final); len(res.Findings) > 0 || res.Checked != 10 || res.Written != 9 {
		t.Errorf("Check: %d checked, %d written, findings:\n%s", res.Checked, res.Written, strings.Join(findings(res.Findings), "\n"))
	}
	if res := r.Replay(mustParse(t, evalInput, "input"), final); len(res.Findings) > 0 || res.Checked != 10 {
		t.Errorf("Replay: %d checked, findings:\n%s", res.Checked, strings.Join(findings(res.Findings), "\n"))
	}
}

func TestCheckAndReplayNameEachDisagreement(t *testing.T) {
	r := evalRules(t)
	// Not what olddefconfig writes: a dependency unmet at y, a hidden int off its default, a
	// transitional symbol written, two members of a choice y, an unknown symbol.
	wrong := strings.NewReplacer("CONFIG_USB_GADGET=m", "# CONFIG_USB_GADGET is not set", "CONFIG_HIDDEN=8", "CONFIG_HIDDEN=5",
		"# CONFIG_FAST is not set", "CONFIG_FAST=y\nCONFIG_OLD_NAME=y\nCONFIG_GONE=y").Replace(evalOutput)
	final := mustParse(t, wrong, ".config")
	// Of two members set y, conf_read takes the last: FAST, so SLOW is the wrong line.
	want := []string{
		"CONFIG_CDNS3: the .config has CONFIG_CDNS3=y, the Kconfig rules give no line",
		"CONFIG_HIDDEN: the .config has CONFIG_HIDDEN=5, the Kconfig rules give CONFIG_HIDDEN=8",
		"CONFIG_OLD_NAME: the .config has CONFIG_OLD_NAME=y, the Kconfig rules give no line",
		"CONFIG_SLOW: the .config has CONFIG_SLOW=y, the Kconfig rules give # CONFIG_SLOW is not set",
		"CONFIG_GONE: the .config has CONFIG_GONE=y, the Kconfig rules give no line",
	}
	if got := findings(r.Check(final).Findings); !slices.Equal(got, want) {
		t.Errorf("Check:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	// From the real input, Replay computes what olddefconfig wrote: the wrong lines differ.
	got := findings(r.Replay(mustParse(t, evalInput, "input"), final).Findings)
	want = []string{
		"CONFIG_FAST: the .config has CONFIG_FAST=y, the Kconfig rules give # CONFIG_FAST is not set",
		"CONFIG_HIDDEN: the .config has CONFIG_HIDDEN=5, the Kconfig rules give CONFIG_HIDDEN=8",
		"CONFIG_OLD_NAME: the .config has CONFIG_OLD_NAME=y, the Kconfig rules give no line",
		"CONFIG_USB_GADGET: the .config has # CONFIG_USB_GADGET is not set, the Kconfig rules give CONFIG_USB_GADGET=m",
		"CONFIG_GONE: the .config has CONFIG_GONE=y, the Kconfig rules give no line",
	}
	if !slices.Equal(got, want) {
		t.Errorf("Replay:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A toolchain test is y or n: a symbol that depends on one agrees when some outcome gives its
// line, and every symbol that depends on the test alone must agree on one outcome.
func TestToolchainTestsAreEitherOutcomeButOne(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "Kconfig"), []byte(`config CC_HAS_X
	def_bool $(cc-option,-mx)
config USES_X
	bool "uses x"
	depends on $(cc-option,-mx)
config VERSION_TEXT
	string
	default "$(CC_VERSION_TEXT)"
`), 0o644)
	r, err := LoadRulesArch(dir, "x86_64", "x86")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		config   string
		findings int
	}{
		{"CONFIG_CC_HAS_X=y\nCONFIG_USES_X=y\nCONFIG_VERSION_TEXT=\"gcc 12\"\n", 0},
		{"CONFIG_VERSION_TEXT=\"\"\n", 0},                          // a def_bool the test made n has no line
		{"CONFIG_CC_HAS_X=y\nCONFIG_VERSION_TEXT=\"gcc 12\"\n", 1}, // USES_X: the test's y would show its prompt
		{"CONFIG_USES_X=y\nCONFIG_VERSION_TEXT=\"\"\n", 1},         // no one outcome
		{"CONFIG_CC_HAS_X=y\nCONFIG_USES_X=y\n", 1},                // VERSION_TEXT has a default: a line
	} {
		res := r.Check(mustParse(t, tc.config, ".config"))
		if len(res.Findings) != tc.findings || len(res.Toolchain) != 3 {
			t.Errorf("%q: %d findings, want %d; toolchain %v\n%s", tc.config, len(res.Findings), tc.findings, res.Toolchain, strings.Join(findings(res.Findings), "\n"))
		}
	}
}
