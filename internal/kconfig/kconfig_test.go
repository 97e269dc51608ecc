package kconfig

import (
	"bytes"
	"strings"
	"testing"
)

func mustParse(t testing.TB, text, name string) *Config {
	t.Helper()
	c, err := Parse(strings.NewReader(text), name)
	if err != nil {
		t.Fatalf("Parse(%s) = %v", name, err)
	}
	return c
}

func TestParseAndWriteRoundTrip(t *testing.T) {
	text := "#\n# Automatically generated file; DO NOT EDIT.\n#\nCONFIG_64BIT=y\n# CONFIG_SMP is not set\nCONFIG_LOCALVERSION=\"-wsl\"\nCONFIG_NR_CPUS=64\nCONFIG_HZ=0x100\n"
	c := mustParse(t, text, ".config")
	if c.Value("SMP") != "n" || c.Value("64BIT") != "y" || c.Value("LOCALVERSION") != `"-wsl"` || c.Value("ABSENT") != "n" {
		t.Errorf("values: SMP=%s 64BIT=%s LOCALVERSION=%s ABSENT=%s", c.Value("SMP"), c.Value("64BIT"), c.Value("LOCALVERSION"), c.Value("ABSENT"))
	}
	var buf bytes.Buffer
	c.WriteTo(&buf)
	want := "CONFIG_64BIT=y\n# CONFIG_SMP is not set\nCONFIG_LOCALVERSION=\"-wsl\"\nCONFIG_NR_CPUS=64\nCONFIG_HZ=0x100\n"
	if buf.String() != want {
		t.Errorf("WriteTo =\n%s\nwant\n%s", buf.String(), want)
	}
}

func TestParseErrorsNameFileAndLine(t *testing.T) {
	for _, tc := range []struct{ text, want string }{
		{"CONFIG_A=y\nCONFIG_B\n", `frag.config:2: not a config line: "CONFIG_B"`},
		{"CONFIG_A=\n", "frag.config:1: CONFIG_A: empty value"},
		{"CONFIG_A=\"open\n", "frag.config:1: CONFIG_A: unterminated string"},
		{"CONFIG_A=two words\n", `frag.config:1: CONFIG_A: value "two words" must be quoted`},
		{"NET=y\n", `frag.config:1: not a config line: "NET=y"`},
	} {
		if _, err := Parse(strings.NewReader(tc.text), "frag.config"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want %q", tc.text, err, tc.want)
		}
	}
}

func TestMergeTracksWhoSetWhatAndOverrides(t *testing.T) {
	base := mustParse(t, "CONFIG_A=y\nCONFIG_B=y\n", ".config")
	f1 := mustParse(t, "CONFIG_B=m\nCONFIG_C=y\n", "one.config")
	f2 := mustParse(t, "# comment\nCONFIG_C=n\nCONFIG_D=\"x\"\n", "two.config")
	merged, requested, overrides := Merge(base, f1, f2)
	var buf bytes.Buffer
	merged.WriteTo(&buf)
	if want := "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\nCONFIG_D=\"x\"\n"; buf.String() != want {
		t.Errorf("merged =\n%s\nwant\n%s", buf.String(), want)
	}
	if s, _ := requested.Get("C"); s.File != "two.config" || s.Line != 2 || s.Value != "n" {
		t.Errorf("requested C = %+v, want two.config:2 n", s)
	}
	if _, ok := requested.Get("A"); ok {
		t.Errorf("A comes from the base, not a fragment: it is not requested")
	}
	if len(overrides) != 1 || overrides[0].String() != "two.config:2: CONFIG_C=n overrides one.config:2 (y)" {
		t.Errorf("overrides = %v", overrides)
	}
}

func TestVerifyNamesWhatWasDropped(t *testing.T) {
	requested := mustParse(t, "CONFIG_A=y\nCONFIG_B=m\n# CONFIG_C is not set\n", "wsl.config")
	final := mustParse(t, "CONFIG_A=y\n# CONFIG_B is not set\n", ".config")
	bad := Verify(requested, final)
	if len(bad) != 1 || bad[0].String() != "wsl.config:2: CONFIG_B=m was requested, but the final .config has n" {
		t.Errorf("Verify = %v", bad)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"s\"\n")
	f.Add("CONFIG_A=y\n# series: 7.2-\nCONFIG_B=y\n") // a .config has no series: refused
	f.Fuzz(func(t *testing.T, text string) {
		c, err := Parse(strings.NewReader(text), "fuzz")
		if err != nil {
			return
		}
		var buf bytes.Buffer
		c.WriteTo(&buf)
		again, err := Parse(&buf, "again")
		if err != nil {
			t.Fatalf("our own output does not parse: %v\n%s", err, buf.String())
		}
		for _, s := range c.Settings() {
			if again.Value(s.Symbol) != s.Value {
				t.Fatalf("CONFIG_%s: %q became %q", s.Symbol, s.Value, again.Value(s.Symbol))
			}
		}
	})
}

func TestDiffLikeDiffconfig(t *testing.T) {
	a := mustParse(t, "CONFIG_A=y\nCONFIG_GONE=m\n# CONFIG_B is not set\nCONFIG_S=\"x\"\nCONFIG_SAME=y\n", "a")
	b := mustParse(t, "CONFIG_SAME=y\nCONFIG_S=\"y\"\nCONFIG_A=m\nCONFIG_B=y\nCONFIG_NEW=y\n# CONFIG_OFF is not set\n", "b")
	got := strings.Join(Diff(a, b), "\n")
	want := strings.Join([]string{
		"-GONE m",
		" A y -> m",
		" B n -> y",
		` S "x" -> "y"`,
		"+NEW y",
		"+OFF n",
	}, "\n")
	if got != want {
		t.Errorf("Diff =\n%s\nwant\n%s", got, want)
	}
	if d := Diff(a, a); len(d) != 0 {
		t.Errorf("Diff(a, a) = %v", d)
	}
}
