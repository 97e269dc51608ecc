package kconfig_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/kconfig"
)

// languageCase is a small Kconfig tree and the .config olddefconfig reads, for the parts of the
// language the wsl profile's configs do not exercise. The kernel's own conf (built by the
// agreement test in each tree) makes the reference; Check and Replay must agree with it.
type languageCase struct {
	name    string
	since   string // the first series whose Kconfig has the syntax or whose conf computes so ("" for all)
	until   string // the last series whose conf computes so ("" for all)
	kconfig string
	input   string
	want    []string // lines the kernel's output must have (-CONFIG_X: no line), so the case tests what it says
	// notFixedPoint says why the kernel's output, read back, does not compute to itself: Check,
	// which assumes it does, is not run, and Replay must still agree.
	notFixedPoint string
}

const modules = "config MODULES\n\tbool \"modules\"\n\tmodules\n"

var languageCases = []languageCase{
	{
		name:  "conditional dependency: Y = m requires X in full, where !Y would let m through",
		since: "7.0",
		kconfig: modules + `config USB
	tristate "usb"
config USB_GADGET
	tristate "gadget"
config CDNS3
	tristate "cdns3"
	depends on USB if !USB_GADGET
config HV_BALLOON
	tristate "balloon"
	depends on VMBUS if VMBUS
config VMBUS
	tristate "vmbus"
config NEEDS_UNDEF
	bool "undefined condition"
	depends on USB if NOT_DEFINED
`,
		input: "CONFIG_MODULES=y\nCONFIG_USB_GADGET=m\nCONFIG_CDNS3=y\nCONFIG_VMBUS=m\nCONFIG_HV_BALLOON=y\nCONFIG_NEEDS_UNDEF=y\n",
		// NOT_DEFINED = n is false: an undefined symbol's string is its name. So USB is needed.
		want: []string{"CONFIG_CDNS3=y", "CONFIG_HV_BALLOON=m", "-CONFIG_NEEDS_UNDEF"},
	},
	{
		name:  "transitional: an old name's value carried to the new symbol's default, never written",
		since: "7.2",
		kconfig: `config NEW_NAME
	bool "new"
	default OLD_NAME
config OLD_NAME
	bool
	transitional
config NEW_COUNT
	int "count"
	default OLD_COUNT
config OLD_COUNT
	int
	transitional
`,
		input: "CONFIG_OLD_NAME=y\nCONFIG_OLD_COUNT=7\n",
		want:  []string{"CONFIG_NEW_NAME=y", "CONFIG_NEW_COUNT=7"},
	},
	{
		name: "m in a dependency is m && MODULES; a tristate is a bool while MODULES is n",
		kconfig: modules + `config T
	tristate "t"
	depends on m
config U
	tristate "u"
	default m
config V
	tristate "v"
	select W
config W
	tristate
`,
		input: "# CONFIG_MODULES is not set\nCONFIG_V=m\n",
		want:  []string{"CONFIG_U=y", "CONFIG_V=y", "CONFIG_W=y"},
	},
	{
		name: "a symbol defined twice: a definition without dependencies adds none (expr_alloc_or)",
		kconfig: `config A
	bool "a"
config IMPLIER
	bool "implier"
	imply TWICE
config TWICE
	bool "twice"
	depends on A
config TWICE
	bool
`,
		// Its dependency is A alone, so the imply cannot raise it.
		input: "# CONFIG_A is not set\nCONFIG_IMPLIER=y\n",
		want:  []string{"# CONFIG_TWICE is not set"},
	},
	{
		name:  "choices: the .config's last y, a default with a condition, a default set to n",
		since: "6.11",
		kconfig: `config FAST
	bool "fast"
choice
	prompt "one"
	default ONE_B if FAST
	default ONE_C
config ONE_A
	bool "a"
config ONE_B
	bool "b"
config ONE_C
	bool "c"
endchoice
choice
	prompt "two"
	default TWO_B
config TWO_A
	bool "a"
config TWO_B
	bool "b"
config TWO_C
	bool "c"
	depends on FAST
endchoice
choice
	prompt "three"
config THREE_A
	bool "a"
config THREE_B
	bool "b"
endchoice
`,
		input: "CONFIG_FAST=y\nCONFIG_TWO_A=y\nCONFIG_TWO_C=y\n# CONFIG_THREE_A is not set\n",
		want:  []string{"CONFIG_ONE_B=y", "CONFIG_TWO_C=y", "CONFIG_THREE_B=y"},
	},
	{
		// Before the rework (kconfig.ChoiceRework), a member the .config sets n is chosen all the
		// same when it is the default, and a prompt's condition hides the members.
		name:  "choices before 6.11: the .config's last y, a default with a condition; a member set to n chosen; a prompt's if hides the members",
		until: "6.10",
		kconfig: `config FAST
	bool "fast"
choice
	prompt "one"
	default ONE_B if FAST
	default ONE_C
config ONE_A
	bool "a"
config ONE_B
	bool "b"
config ONE_C
	bool "c"
endchoice
choice
	prompt "two"
	default TWO_B
config TWO_A
	bool "a"
config TWO_B
	bool "b"
config TWO_C
	bool "c"
	depends on FAST
endchoice
choice
	prompt "three"
config THREE_A
	bool "a"
config THREE_B
	bool "b"
endchoice
config CMDLINE
	string "cmdline"
choice
	prompt "four" if CMDLINE != ""
	default FOUR_B
config FOUR_A
	bool "a"
config FOUR_B
	bool "b"
endchoice
`,
		input: "CONFIG_FAST=y\nCONFIG_TWO_A=y\nCONFIG_TWO_C=y\n# CONFIG_THREE_A is not set\n",
		want:  []string{"CONFIG_ONE_B=y", "CONFIG_TWO_C=y", "CONFIG_THREE_A=y", "-CONFIG_FOUR_A", "-CONFIG_FOUR_B"},
	},
	{
		name: "visible if hides prompts, not values; imply and select; select past unmet dependencies",
		kconfig: modules + `menu "hidden"
	visible if EXPERT
config HIDDEN
	bool "hidden"
	default y
endmenu
config EXPERT
	bool "expert"
config IMPLIER
	tristate "implier"
	imply IMPLIED
config IMPLIED
	tristate "implied"
	depends on DEP
config DEP
	tristate "dep"
config SELECTOR
	bool "selector"
	select FORCED if DEP
config FORCED
	tristate "forced"
	depends on EXPERT
`,
		input: "CONFIG_MODULES=y\nCONFIG_HIDDEN=n\nCONFIG_IMPLIER=y\nCONFIG_DEP=m\nCONFIG_SELECTOR=y\n",
		want:  []string{"CONFIG_HIDDEN=y", "CONFIG_IMPLIED=m", "CONFIG_FORCED=m"},
	},
	{
		name:  "int, hex and string: ranges, defaults from other symbols, escapes, comparisons",
		since: "6.11",
		kconfig: `config COUNT
	int "count"
	range 2 8
	default 4
config BIG
	int "big"
	range COUNT 100
config ADDR
	hex
	default 1000
config MASK
	hex "mask"
	range 0x10 0xff
config NAME
	string "name"
	default "a \"quoted\" \\ name"
config COPY
	string
	default NAME
config IS_EIGHT
	def_bool COUNT = 8
config HEX_BIG
	def_bool MASK > 0x20
config UNDEF_STR
	def_bool NOT_DEFINED = "NOT_DEFINED"
config NUM_STR
	def_bool "10" > "9"
config LATER_DEFAULT
	int
	default 1 if IS_EIGHT = n
	default 2
`,
		input: "CONFIG_COUNT=99\nCONFIG_BIG=1\nCONFIG_MASK=0x1000\nCONFIG_NAME=\"x\\\\y\\\"z\"\n",
		want:  []string{"CONFIG_COUNT=8", "CONFIG_BIG=8", "CONFIG_ADDR=1000", "CONFIG_MASK=0xff", "CONFIG_UNDEF_STR=y", "CONFIG_NUM_STR=y", "CONFIG_LATER_DEFAULT=2"},
	},
	{
		// Before the rework, conf_read drops a user value outside its range for the default,
		// after every symbol was computed from it clamped, and keeps those values.
		name:  "int and hex before 6.11: a user value outside its range is dropped for the default; what was computed from it stays",
		until: "6.10",
		notFixedPoint: "IS_EIGHT and HEX_BIG were computed from COUNT and MASK clamped (8, 0xff) before conf_read dropped their user values, " +
			"and conf_write writes them as computed: y, beside COUNT=4 and MASK=0x10",
		kconfig: `config COUNT
	int "count"
	range 2 8
	default 4
config BIG
	int "big"
	range COUNT 100
config ADDR
	hex
	default 1000
config MASK
	hex "mask"
	range 0x10 0xff
config NAME
	string "name"
	default "a \"quoted\" \\ name"
config COPY
	string
	default NAME
config IS_EIGHT
	def_bool COUNT = 8
config HEX_BIG
	def_bool MASK > 0x20
config UNDEF_STR
	def_bool NOT_DEFINED = "NOT_DEFINED"
config NUM_STR
	def_bool "10" > "9"
config LATER_DEFAULT
	int
	default 1 if IS_EIGHT = n
	default 2
`,
		input: "CONFIG_COUNT=99\nCONFIG_BIG=1\nCONFIG_MASK=0x1000\nCONFIG_NAME=\"x\\\\y\\\"z\"\n",
		want:  []string{"CONFIG_COUNT=4", "CONFIG_BIG=4", "CONFIG_MASK=0x10", "CONFIG_IS_EIGHT=y", "CONFIG_HEX_BIG=y", "CONFIG_LATER_DEFAULT=2"},
	},
}

// checkLanguage runs each case through the kernel's conf and checks Check and Replay against
// its output.
func checkLanguage(t *testing.T, conf, series string) {
	for _, c := range languageCases {
		if c.since != "" && seriesLess(series, c.since) || c.until != "" && seriesLess(c.until, series) {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, "Kconfig"), []byte(c.kconfig), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, ".config"), []byte(c.input), 0o644); err != nil {
				t.Fatal(err)
			}
			// The series the reader computes for, as a tree's Makefile says it.
			major, minor, _ := strings.Cut(series, ".")
			if err := os.WriteFile(filepath.Join(dir, "Makefile"), []byte("VERSION = "+major+"\nPATCHLEVEL = "+minor+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(conf, "--olddefconfig", "Kconfig")
			cmd.Dir = dir
			cmd.Env = append(os.Environ(), "srctree="+dir, "KCONFIG_CONFIG=.config")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("the kernel's conf: %v\n%s", err, out)
			}
			final, err := kconfig.ParseFile(filepath.Join(dir, ".config"))
			if err != nil {
				t.Fatal(err)
			}
			var text bytes.Buffer
			final.WriteTo(&text)
			for _, w := range c.want {
				if sym, absent := strings.CutPrefix(w, "-CONFIG_"); absent {
					if _, ok := final.Get(sym); ok {
						t.Errorf("the kernel wrote a line for %s, so the case does not test what it says:\n%s", sym, text.String())
					}
				} else if !strings.Contains("\n"+text.String(), "\n"+w+"\n") {
					t.Errorf("the kernel wrote no %q, so the case does not test what it says:\n%s", w, text.String())
				}
			}
			input, err := kconfig.Parse(strings.NewReader(c.input), "input")
			if err != nil {
				t.Fatal(err)
			}
			rules, err := kconfig.LoadRulesArch(dir, "x86_64", "x86")
			if err != nil {
				t.Fatal(err)
			}
			if c.notFixedPoint == "" {
				for _, f := range rules.Check(final).Findings {
					t.Errorf("Check: %s", f)
				}
			}
			for _, f := range rules.Replay(input, final).Findings {
				t.Errorf("Replay: %s", f)
			}
			if t.Failed() {
				t.Logf("the kernel's .config:\n%s", text.String())
			}
		})
	}
}

// seriesLess compares kernel series such as 6.12 and 7.2.
func seriesLess(a, b string) bool {
	var am, an, bm, bn int
	parse := func(s string, major, minor *int) {
		maj, min, _ := strings.Cut(s, ".")
		*major, *minor = atoi(maj), atoi(min)
	}
	parse(a, &am, &an)
	parse(b, &bm, &bn)
	return am < bm || am == bm && an < bn
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}
