package kconfig

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fakeKconfig writes a small Kconfig tree with the constructs the kernel's use: source with
// $(SRCARCH), if/endif, menu with depends on, choice, help text that looks like keywords,
// select with a condition, a symbol without a prompt, and a continued line.
func fakeKconfig(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"Kconfig": `mainmenu "Fake $(SRCARCH)"
source "arch/$(SRCARCH)/Kconfig"
source "net/Kconfig"
osource "missing/Kconfig"
`,
		"arch/x86/Kconfig": `config X86
	def_bool y
	select HAVE_PCI

config HAVE_PCI
	bool

config PCI
	bool "PCI support"
	depends on HAVE_PCI
	help
	  config NOT_A_SYMBOL
	  depends on this text is help, not Kconfig.

choice
	prompt "Compression"
config KERNEL_GZIP
	bool "gzip"
config KERNEL_ZSTD
	bool "zstd"
endchoice
`,
		"net/Kconfig": `menuconfig NET
	bool "Networking support"

if NET
menu "Sockets"
	depends on PCI

config VSOCKETS
	tristate "Virtual Socket protocol" if EXPERT
	help
	  Sockets between host and guest.
config HYPERV_VSOCKETS
	tristate "Hyper-V transport"
	depends on VSOCKETS && \
		HYPERV
	select VSOCKETS_LOOPBACK if VSOCKETS = y # a comment
endmenu
endif

config VSOCKETS_LOOPBACK
	tristate

config HYPERV
	tristate "Hyper-V"
	depends on X86 && (ACPI || !X86)

config USB_CDNS3
	tristate "Cadence USB3 (a conditional dependency, as Linux 7.x writes them)"
	depends on USB if !USB_GADGET
	depends on NET
`,
	}
	writeTree(t, root, files)
	return root
}

func TestRulesReadTheKconfigLanguage(t *testing.T) {
	r, err := LoadRules(fakeKconfig(t), "x86")
	if err != nil {
		t.Fatal(err)
	}
	if r.Files != 3 {
		t.Errorf("read %d files, want 3 (Kconfig, arch/x86/Kconfig, net/Kconfig)", r.Files)
	}
	if _, ok := r.Symbols["NOT_A_SYMBOL"]; ok {
		t.Error("help text was read as Kconfig")
	}
	final := mustParse(t, "CONFIG_X86=y\nCONFIG_HAVE_PCI=y\nCONFIG_NET=y\nCONFIG_VSOCKETS=y\n# CONFIG_PCI is not set\n", ".config")
	hv := r.Symbols["HYPERV_VSOCKETS"]
	if hv == nil || len(hv.Defs) != 1 || hv.Type != "tristate" || hv.Defs[0].File != "net/Kconfig" || hv.Defs[0].Line != 12 {
		t.Fatalf("HYPERV_VSOCKETS = %+v", hv)
	}
	// The if NET block, the menu's depends on PCI, and the entry's own (continued) depends on.
	if got, want := hv.Defs[0].Depends.Explain(final), "NET [=y] && PCI [=n] && VSOCKETS [=y] && HYPERV [=n]"; got != want {
		t.Errorf("depends = %q, want %q", got, want)
	}
	if hv.Defs[0].Depends.Eval(final) != 0 {
		t.Error("dependency evaluates true with PCI=n")
	}
	lb := r.Symbols["VSOCKETS_LOOPBACK"]
	if len(lb.SelectedBy) != 1 || lb.SelectedBy[0].By != "HYPERV_VSOCKETS" || lb.SelectedBy[0].If.Explain(final) != "VSOCKETS [=y] = y" || lb.Visible() {
		t.Errorf("VSOCKETS_LOOPBACK = %+v", lb)
	}
	if v := r.Symbols["VSOCKETS"].Defs[0]; v.Prompt != "Virtual Socket protocol" || v.PromptIf.Explain(final) != "EXPERT [=n]" {
		t.Errorf("VSOCKETS prompt = %+v", v)
	}
	if z := r.Symbols["KERNEL_ZSTD"]; z.Choice == 0 || !slices.Equal(r.Choices[z.Choice-1], []string{"KERNEL_GZIP", "KERNEL_ZSTD"}) || r.Symbols["PCI"].Choice != 0 {
		t.Errorf("choice membership wrong: %v", r.Choices)
	}
	final.Set(Setting{Symbol: "KERNEL_GZIP", Value: "y"})
	if why := strings.Join(r.Why("KERNEL_ZSTD", "y", final), "\n"); !strings.Contains(why, `KERNEL_ZSTD is one choice of a group (KERNEL_GZIP, KERNEL_ZSTD): only one can be y, and KERNEL_GZIP is; request "# CONFIG_KERNEL_GZIP is not set" too`) {
		t.Errorf("Why for a choice:\n%s", why)
	}
	if got := r.Symbols["HYPERV"].Defs[0].Depends.Explain(final); got != "X86 [=y] && (ACPI [=n] || !X86 [=y])" {
		t.Errorf("HYPERV depends = %q", got)
	}
}

// Linux 7.x: "depends on X if Y" is the kernel parser's "X || (Y = n)": X is needed in full
// wherever Y is not n, m included ("!Y || X" would let a module through).
func TestConditionalDependency(t *testing.T) {
	r, err := LoadRules(fakeKconfig(t), "x86")
	if err != nil {
		t.Fatal(err)
	}
	dep := r.Symbols["USB_CDNS3"].Defs[0].Depends
	for _, tc := range []struct {
		config string
		want   int
	}{
		{"CONFIG_NET=y\n", 0},                      // no gadget: USB needed, and off
		{"CONFIG_NET=y\nCONFIG_USB=m\n", 1},        // USB as a module: at most m
		{"CONFIG_NET=y\nCONFIG_USB_GADGET=y\n", 2}, // a gadget: USB not needed
		{"CONFIG_NET=y\nCONFIG_USB_GADGET=m\n", 2}, // a modular gadget: USB_GADGET != n holds in full
		{"CONFIG_USB_GADGET=y\n", 0},               // the plain dependency still holds
	} {
		if got := dep.Eval(mustParse(t, tc.config, ".config")); got != tc.want {
			t.Errorf("USB_CDNS3's dependency under %q = %d, want %d (%s)", tc.config, got, tc.want, dep.Explain(mustParse(t, tc.config, ".config")))
		}
	}
	if got, want := dep.Explain(mustParse(t, "CONFIG_NET=y\n", ".config")), "USB [=n] || USB_GADGET [=n] != n"; !strings.Contains(got, "USB_GADGET [=n]") || !strings.Contains(got, "USB [=n]") {
		t.Errorf("explained as %q, want both symbols named (like %q)", got, want)
	}
}

func TestWhyNamesTheUnmetDependency(t *testing.T) {
	r, err := LoadRules(fakeKconfig(t), "x86")
	if err != nil {
		t.Fatal(err)
	}
	final := mustParse(t, "CONFIG_X86=y\nCONFIG_HAVE_PCI=y\nCONFIG_NET=y\nCONFIG_VSOCKETS=y\nCONFIG_HYPERV=y\n", ".config")
	why := strings.Join(r.Why("HYPERV_VSOCKETS", "y", final), "\n")
	for _, want := range []string{
		`defined at net/Kconfig:12 as tristate "Hyper-V transport"`,
		"depends on: NET [=y] && PCI [=n] && VSOCKETS [=y] && HYPERV [=y]  => n; unmet: PCI [=n]",
	} {
		if !strings.Contains(why, want) {
			t.Errorf("Why lacks %q:\n%s", want, why)
		}
	}
	if why := strings.Join(r.Why("VSOCKETS_LOOPBACK", "y", final), "\n"); !strings.Contains(why, "has no prompt: a fragment cannot set it") {
		t.Errorf("Why for a promptless symbol:\n%s", why)
	}
	final.Set(Setting{Symbol: "HYPERV_VSOCKETS", Value: "y"})
	if why := strings.Join(r.Why("VSOCKETS_LOOPBACK", "n", final), "\n"); !strings.Contains(why, "selected by HYPERV_VSOCKETS [=y] && VSOCKETS [=y] = y (net/Kconfig:16)  => y") {
		t.Errorf("Why for a selected symbol:\n%s", why)
	}
	if why := r.Why("VSOCKET", "y", final); len(why) != 1 || !strings.Contains(why[0], "did you mean VSOCKETS?") {
		t.Errorf("Why for a misspelt symbol: %q", why)
	}
	if why := strings.Join(r.Why("PCI", "m", final), "\n"); !strings.Contains(why, "PCI is bool: it can be y or n, never m") {
		t.Errorf("Why for m on a bool:\n%s", why)
	}
}

func TestRulesErrors(t *testing.T) {
	root := fakeKconfig(t)
	os.WriteFile(filepath.Join(root, "net/Kconfig"), []byte("config A\n\tdepends on (B\n"), 0o644)
	if _, err := LoadRules(root, "x86"); err == nil || !strings.Contains(err.Error(), "net/Kconfig:2: expression") {
		t.Errorf("bad expression: %v", err)
	}
	os.WriteFile(filepath.Join(root, "Kconfig"), []byte("config A\n\tbool\nrsource \"Kconfig\"\n"), 0o644)
	if _, err := LoadRules(root, "x86"); err == nil || !strings.Contains(err.Error(), "Kconfig: sourced again while it is being read") {
		t.Errorf("source loop: %v", err)
	}
	os.WriteFile(filepath.Join(root, "Kconfig"), []byte("source \"arch/$(SRCARCH)/Kconfig\"\n"), 0o644)
	if _, err := LoadRules(root, "arm64"); err == nil || !strings.Contains(err.Error(), "Kconfig:1: sourced file arch/arm64/Kconfig does not exist") {
		t.Errorf("missing source: %v", err)
	}
}

func TestExprEval(t *testing.T) {
	c := mustParse(t, "CONFIG_A=y\nCONFIG_B=m\nCONFIG_N=42\nCONFIG_S=\"abc\"\n", ".config")
	for expr, want := range map[string]int{
		"A": 2, "B": 1, "C": 0, "!B": 1, "A && B": 1, "B || A": 2, "!(A && C)": 2,
		"N > 40": 2, "N >= 0x2a": 2, "N < 9": 0, `S = "abc"`: 2, `S != "abc"`: 0, "B = m": 2,
		"A && $(cc-option,-foo)": 2, "y": 2, "m && A": 1,
	} {
		e, err := ParseExpr(expr)
		if err != nil {
			t.Errorf("%s: %v", expr, err)
			continue
		}
		if got := e.Eval(c); got != want {
			t.Errorf("%s = %d, want %d", expr, got, want)
		}
	}
	for _, bad := range []string{"", "A &&", "(A", "A)", "&& A", `"open`, "A # B"} {
		if _, err := ParseExpr(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

func FuzzParseExpr(f *testing.F) {
	for _, s := range []string{"A && (B || !C)", `X = "y"`, "$(cc-option,-m64) && N >= 3", "!!A"} {
		f.Add(s)
	}
	c := mustParse(f, "CONFIG_A=y\n", ".config")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseExpr(s)
		if err != nil {
			return
		}
		if v := e.Eval(c); v < 0 || v > 2 {
			t.Fatalf("%q evaluates to %d", s, v)
		}
		// What Explain prints must parse back to the same value once the [=v] notes are gone.
		again, err := ParseExpr(explainNotes.ReplaceAllString(e.Explain(c), ""))
		if err != nil {
			t.Fatalf("%q: explained as %q, which does not parse: %v", s, e.Explain(c), err)
		}
		if again.Eval(c) != e.Eval(c) {
			t.Fatalf("%q: explained form %q evaluates differently", s, e.Explain(c))
		}
	})
}

var explainNotes = regexp.MustCompile(` \[=[^\]]*\]`)

// FuzzLoadRules feeds one Kconfig file and a .config: the file must load or fail with an error
// naming file and line, never panic or loop, and what loads must explain, check and replay the
// .config without panicking, whatever its symbols, cycles and constants.
func FuzzLoadRules(f *testing.F) {
	f.Add("config A\n\tbool \"a\" if B\n\tdepends on C && !D\n\tselect E if F\n\thelp\n\t  text\nif G\nconfig H\n\ttristate\nendif\n", "CONFIG_A=y\n")
	f.Add("source \"Kconfig\"\n", "")
	f.Add("config U\n\ttristate \"u\"\n\tdepends on USB if !USB_GADGET\n\tdepends on (A || B) if C = y\n", "CONFIG_USB_GADGET=m\nCONFIG_U=y\n")
	f.Add("menu \"m\"\n\tdepends on X\nchoice\nconfig Y\n\tbool \"y\"\nendchoice\nendmenu\n", "CONFIG_X=y\n")
	// Linux 7.x: transitional symbols, and a conditional dependency on a symbol's own module.
	f.Add("config NEW\n\tbool \"new\"\n\tdefault OLD\nconfig OLD\n\tbool\n\ttransitional\n\thelp\n\t  The old name.\n", "CONFIG_OLD=y\n")
	f.Add("config HV_BALLOON\n\ttristate \"b\"\n\tdepends on HYPERV_VMBUS if HYPERV_VMBUS\nconfig HYPERV_VMBUS\n\ttristate \"v\"\nconfig MODULES\n\tbool \"m\"\n\tmodules\n",
		"CONFIG_MODULES=y\nCONFIG_HYPERV_VMBUS=m\nCONFIG_HV_BALLOON=y\n")
	// The rest of what Check and Replay read: menus' visible if, choice defaults, ranges,
	// int/hex/string defaults, def_bool with a condition, imply, comparisons, a cycle.
	f.Add("menu \"h\"\n\tvisible if E\nconfig H\n\tbool \"h\"\n\tdefault y\nendmenu\nchoice\n\tprompt \"c\"\n\tdefault C2 if E\nconfig C1\n\tbool \"1\"\nconfig C2\n\tbool \"2\"\nendchoice\n",
		"CONFIG_E=y\n# CONFIG_C2 is not set\n")
	f.Add("config N\n\tint \"n\"\n\trange 2 N\n\tdefault 0x10 if S = \"a\\\"b\"\nconfig X\n\thex\n\tdefault N\nconfig S\n\tstring \"s\"\nconfig B\n\tdef_bool N > 3 if !B\n\timply B\n\tselect B\n",
		"CONFIG_N=99\nCONFIG_S=\"a\\\"b\"\nCONFIG_X=zz\n")
	f.Add("config A\n\tbool \"a\"\n\tdepends on $(cc-option,-foo) || \"$(ARCH)\" = \"x86\"\n\tdefault $(success,true)\nconfig V\n\tstring\n\tdefault \"$(CC_VERSION_TEXT)\"\n", "CONFIG_A=y\nCONFIG_V=\"gcc\"\n")
	f.Fuzz(func(t *testing.T, text, dotconfig string) {
		root := t.TempDir()
		if err := os.WriteFile(filepath.Join(root, "Kconfig"), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		r, err := LoadRulesArch(root, "x86_64", "x86")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Kconfig:") && !strings.Contains(err.Error(), "Kconfig") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		final, err := Parse(strings.NewReader(dotconfig), ".config")
		if err != nil {
			final = &Config{}
		}
		for name := range r.Symbols {
			r.Why(name, "y", final)
		}
		r.Check(final)
		r.Replay(final, final)
	})
}
