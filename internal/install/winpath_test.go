package install

import (
	"strings"
	"testing"
)

func TestWindowsPath(t *testing.T) {
	for in, want := range map[string]string{"/mnt/c/Users/ada": `C:\Users\ada`, "/mnt/d": `D:\`, "/mnt/c/Users/ada/": `C:\Users\ada`} {
		if got, err := WindowsPath(in); err != nil || got != want {
			t.Errorf("WindowsPath(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := WindowsPath("/home/ada"); err == nil || !strings.Contains(err.Error(), "--windows-path") {
		t.Errorf("WindowsPath(/home/ada) = %v, want an error pointing at --windows-path", err)
	}
}

func TestCheckWSLPath(t *testing.T) {
	for _, c := range []struct{ path, want string }{
		{`C:\Users\ada\wsl-kernel\6.12.118.1\kernel`, ""},
		{`\\server\share\wsl-kernel\6.12.118.1_2\modules.vhdx`, ""},
		{`C:\Users\ada (work)\wsl-kernel\6.12.118.1+custom\kernel`, ""},
		{`C:\Users\Zoë\wsl-kernel\kernel`, "not ASCII"},
		{`C:\Users\李\kernel`, "not ASCII"},
		{`C:\Users\c#dev\kernel`, "ends the value"},
		{`C:\Users\a;b\kernel`, "';'"},
		{`C:\Users\"ada"\kernel`, "quoting"},
		{`C:\Users\ada \kernel`, "ending in a space or dot"},
		{`C:\Users\ada.\kernel`, "ending in a space or dot"},
		{"C:\\Users\\a\tb\\kernel", "control character"},
		{`C:\Users\a:b\kernel`, "does not allow"},
		{`C:\Users\a?b\kernel`, "does not allow"},
	} {
		err := checkWSLPath(c.path, `C:\wsl-kernel\6.12.118.1`)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("checkWSLPath(%q) = %v, want nil", c.path, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), `e.g. C:\wsl-kernel\6.12.118.1`)):
			t.Errorf("checkWSLPath(%q) = %v, want an error saying %q and proposing a path", c.path, err, c.want)
		}
	}
}

func TestLocalPath(t *testing.T) {
	for _, c := range []struct {
		win, home, winHome, want string
		ok                       bool
	}{
		{`C:\Users\ada\wsl-kernel\6.1\kernel`, "/home/x/win", `C:\Users\ada`, "/home/x/win/wsl-kernel/6.1/kernel", true},
		{`c:\users\ADA\k`, "/home/x/win", `C:\Users\ada\`, "/home/x/win/k", true},
		{`D:\k\kernel`, "/mnt/c/Users/ada", `C:\Users\ada`, "/mnt/d/k/kernel", true},
		{`D:\k\kernel`, "/home/x/win", `C:\Users\ada`, "", false},
		{`\\server\k`, "/mnt/c/Users/ada", `C:\Users\ada`, "", false},
	} {
		got, ok := localPath(c.win, c.home, c.winHome)
		if got != c.want || ok != c.ok {
			t.Errorf("localPath(%q, %q, %q) = %q, %v; want %q, %v", c.win, c.home, c.winHome, got, ok, c.want, c.ok)
		}
	}
}
