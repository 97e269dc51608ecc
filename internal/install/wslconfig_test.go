package install

import (
	"strings"
	"testing"
)

const newKernel = `C:\Users\ada\wsl-kernel\6.12.118.1\kernel`

// kernelLine is newKernel as .wslconfig holds it.
const kernelLine = `kernel=C:\\Users\\ada\\wsl-kernel\\6.12.118.1\\kernel`

func TestConfigSetKeepsEverythingElse(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"empty file", "", "[wsl2]\n" + kernelLine + "\n"},
		{"no wsl2 section",
			"[experimental]\nautoMemoryReclaim=gradual\n",
			"[experimental]\nautoMemoryReclaim=gradual\n\n[wsl2]\n" + kernelLine + "\n"},
		{"no final newline, no section",
			"[experimental]\nsparseVhd=true",
			"[experimental]\nsparseVhd=true\n\n[wsl2]\n" + kernelLine + "\n"},
		{"no final newline, key added at the end stays without one",
			"[wsl2]\nmemory=8GB",
			"[wsl2]\nmemory=8GB\n" + kernelLine},
		{"no final newline, key replaced stays without one",
			"[wsl2]\nkernel=C:\\\\old",
			"[wsl2]\n" + kernelLine},
		{"key replaced where it stands, later duplicate dropped, comments and ; lines kept",
			"# mine\n[wsl2]\nmemory=8GB\nkernel=C:\\\\old\\\\kernel\n; a note\nKernel=C:\\\\older\nswap=0\n[experimental]\nsparseVhd=true\n",
			"# mine\n[wsl2]\nmemory=8GB\n" + kernelLine + "\n; a note\nswap=0\n[experimental]\nsparseVhd=true\n"},
		{"indentation, spacing and trailing comment of the replaced line kept",
			"[wsl2]\n  kernel = \"C:\\\\old\"   # my old one\n",
			"[wsl2]\n  kernel = C:\\\\Users\\\\ada\\\\wsl-kernel\\\\6.12.118.1\\\\kernel   # my old one\n"},
		{"key added after the section's last line, before blank lines and the next section",
			"[wsl2]\nmemory=8GB\n\n[experimental]\nsparseVhd=true\n",
			"[wsl2]\nmemory=8GB\n" + kernelLine + "\n\n[experimental]\nsparseVhd=true\n"},
		{"CRLF stays CRLF, a commented-out key stays",
			"[wsl2]\r\n#kernel=C:\\\\x\r\nprocessors=4\r\n",
			"[wsl2]\r\n#kernel=C:\\\\x\r\nprocessors=4\r\n" + kernelLine + "\r\n"},
		{"mixed endings: each line keeps its own, added lines take the first",
			"[wsl2]\r\nmemory=8GB\nswap=0\r\n",
			"[wsl2]\r\nmemory=8GB\nswap=0\r\n" + kernelLine + "\r\n"},
		{"a header with a comment is the section",
			"[wsl2] # my settings\nmemory=8GB\n",
			"[wsl2] # my settings\nmemory=8GB\n" + kernelLine + "\n"},
		{"header names ignore case, indented header",
			"  [WSL2]\nmemory=8GB\n",
			"  [WSL2]\nmemory=8GB\n" + kernelLine + "\n"},
		{"[ wsl2 ] is no header to WSL: a section is added",
			"[ wsl2 ]\nmemory=8GB\n",
			"[ wsl2 ]\nmemory=8GB\n\n[wsl2]\n" + kernelLine + "\n"},
		{"an invalid header does not end the section before it",
			"[wsl2]\nmemory=8GB\n[my stuff]\nkernel=C:\\\\old\n",
			"[wsl2]\nmemory=8GB\n[my stuff]\n" + kernelLine + "\n"},
		{"kernel= in another section is not ours",
			"[other]\nkernel=x\n[wsl2]\nswap=0\n",
			"[other]\nkernel=x\n[wsl2]\nswap=0\n" + kernelLine + "\n"},
		{"a continued value is replaced whole",
			"[wsl2]\nkernel=C:\\\\old\\\n\\\\kernel\nswap=0\n",
			"[wsl2]\n" + kernelLine + "\nswap=0\n"},
		{"a line WSL skips (bad escape) is not the key: the next one is",
			"[wsl2]\nkernel=C:\\old\nkernel=C:\\\\older\n",
			"[wsl2]\nkernel=C:\\old\n" + kernelLine + "\n"},
		{"a value continued past the end keeps its line last",
			"[wsl2]\nswap=0\\\n",
			"[wsl2]\n" + kernelLine + "\nswap=0\\\n"},
		{"a backslash ending the file stays at the end",
			"[wsl2]\nA=\\",
			"[wsl2]\n" + kernelLine + "\nA=\\"},
		{"kernelModules is another key",
			"[wsl2]\nkernelModules=C:\\\\m.vhdx\n",
			"[wsl2]\nkernelModules=C:\\\\m.vhdx\n" + kernelLine + "\n"},
	} {
		cfg := ParseConfig(c.in)
		cfg.Set("wsl2", "kernel", newKernel)
		if got := cfg.String(); got != c.want {
			t.Errorf("%s: Set(%q) =\n%q\nwant\n%q", c.name, c.in, got, c.want)
		}
		if v, _, ok := cfg.Get("wsl2", "kernel"); !ok || v != newKernel {
			t.Errorf("%s: after Set, Get = %q, %v; want %q", c.name, v, ok, newKernel)
		}
	}
}

// Get reads values as WSL does.
func TestConfigGet(t *testing.T) {
	for _, c := range []struct {
		name, in, value, lines string
		ok                     bool
	}{
		{"plain", "[wsl2]\nkernel=C:\\\\k\n", `C:\k`, `kernel=C:\\k`, true},
		{"comment ends the value, trailing spaces dropped", "[wsl2]\nkernel = C:\\\\k  # x\n", `C:\k`, `kernel = C:\\k  # x`, true},
		{"quotes keep # and spaces", "[wsl2]\nkernel=\"C:\\\\a #b \"\n", `C:\a #b `, `kernel="C:\\a #b "`, true},
		{"escapes", "[wsl2]\nkernel=a\\tb\\\"c\n", "a\tb\"c", `kernel=a\tb\"c`, true},
		{"continuation", "[wsl2]\nkernel=C:\\\\a\\\nb\n", `C:\ab`, "kernel=C:\\\\a\\\nb", true},
		{"first occurrence counts", "[wsl2]\nkernel=a\nkernel=b\n", "a", "kernel=a", true},
		{"a second [wsl2] section counts too", "[wsl2]\nswap=0\n[x]\n[wsl2]\nkernel=a\n", "a", "kernel=a", true},
		{"open quote: WSL skips the line", "[wsl2]\nkernel=\"a\n", "", "", false},
		{"bad escape: WSL skips the line", "[wsl2]\nkernel=C:\\k\n", "", "", false},
		{"backslash at the end of the file", "[wsl2]\nkernel=a\\", "", "", false},
		{"; is no comment to WSL, but no key either", "[wsl2]\n;kernel=a\n", "", "", false},
		{"before any section", "kernel=a\n[wsl2]\n", "", "", false},
		{"key names ignore case", "[wsl2]\nKERNEL=a\n", "a", "KERNEL=a", true},
		{"a key needs =", "[wsl2]\nkernel a\n", "", "", false},
	} {
		v, lines, ok := ParseConfig(c.in).Get("wsl2", "kernel")
		if v != c.value || lines != c.lines || ok != c.ok {
			t.Errorf("%s: Get(%q) = %q, %q, %v; want %q, %q, %v", c.name, c.in, v, lines, ok, c.value, c.lines, c.ok)
		}
	}
}

func TestConfigRemove(t *testing.T) {
	for _, c := range []struct{ name, in, want string }{
		{"absent", "[wsl2]\nswap=0\n", "[wsl2]\nswap=0\n"},
		{"every occurrence, in every [wsl2]", "[wsl2]\nkernelModules=a\nswap=0\nkernelmodules=b\n[x]\nkernelModules=c\n[wsl2]\nkernelModules=d\n",
			"[wsl2]\nswap=0\n[x]\nkernelModules=c\n[wsl2]\n"},
		{"a continued value, CRLF", "[wsl2]\r\nkernelModules=a\\\r\nb\r\nswap=0\r\n", "[wsl2]\r\nswap=0\r\n"},
	} {
		cfg := ParseConfig(c.in)
		cfg.Remove("wsl2", "kernelModules")
		if got := cfg.String(); got != c.want {
			t.Errorf("%s: Remove =\n%q\nwant\n%q", c.name, got, c.want)
		}
	}
}

// Whatever the file holds, it reads back as it was, Set makes WSL read the new value, and
// Remove leaves no value.
func FuzzConfig(f *testing.F) {
	for _, seed := range []string{"", "[wsl2]\nkernel=a\n", "[wsl2] # x\r\nkernel = \"a#\" # c\r\n[x]\n", "kernel=a\\\n", "[wsl2]\nkernel=a\\\nb\\\n", "[ wsl2 ]\n;k=1\n"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if got := ParseConfig(text).String(); got != text {
			t.Fatalf("ParseConfig(%q).String() = %q", text, got)
		}
		cfg := ParseConfig(text)
		cfg.Set("wsl2", "kernel", newKernel)
		if v, _, ok := cfg.Get("wsl2", "kernel"); !ok || v != newKernel {
			t.Fatalf("after Set on %q: Get = %q, %v; text %q", text, v, ok, cfg.String())
		}
		// Only a file ending in a backslash (a continuation once a line follows) may change
		// another key; install refuses that.
		if id := changedKey(ParseConfig(text), cfg, "wsl2.kernel"); id != "" && !strings.HasSuffix(text, `\`) {
			t.Fatalf("Set on %q changed what WSL reads for %s: %q", text, id, cfg.String())
		}
		cfg.Remove("wsl2", "kernel")
		if v, _, ok := cfg.Get("wsl2", "kernel"); ok {
			t.Fatalf("after Remove on %q: Get = %q; text %q", text, v, cfg.String())
		}
	})
}
