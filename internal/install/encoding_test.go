package install

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf16"
)

// utf16Bytes is text in UTF-16 with a byte-order mark, as PowerShell 5.1's Out-File writes it.
func utf16Bytes(text string, bigEndian bool) []byte {
	out := []byte{0xFF, 0xFE}
	if bigEndian {
		out = []byte{0xFE, 0xFF}
	}
	for _, u := range utf16.Encode([]rune(text)) {
		if bigEndian {
			out = append(out, byte(u>>8), byte(u))
		} else {
			out = append(out, byte(u), byte(u>>8))
		}
	}
	return out
}

// A file is read as WSL reads it and written back byte for byte in its own encoding.
func TestDecodeEncodeRoundTrip(t *testing.T) {
	const text = "# Zoë's settings ✓\r\n[wsl2]\r\nmemory=8GB\r\n"
	for _, c := range []struct {
		name string
		raw  []byte
		enc  textEncoding
	}{
		{"UTF-8", []byte(text), plainUTF8},
		{"UTF-8 with BOM", append([]byte{0xEF, 0xBB, 0xBF}, text...), bomUTF8},
		{"UTF-16 LE", utf16Bytes(text, false), utf16LE},
		{"UTF-16 BE", utf16Bytes(text, true), utf16BE},
		{"UTF-16 LE, a character beyond the BMP", utf16Bytes("# 🐧\n"+text, false), utf16LE},
		{"not UTF-8 (Latin-1) without BOM: bytes kept", []byte("# Zo\xeb\n[wsl2]\n"), plainUTF8},
		{"empty", nil, plainUTF8},
	} {
		got, enc, err := decodeText(".wslconfig", c.raw)
		if err != nil || enc != c.enc {
			t.Errorf("%s: decodeText = %v, %v; want %v", c.name, enc, err, c.enc)
			continue
		}
		if c.enc != plainUTF8 && !strings.HasSuffix(got, text) {
			t.Errorf("%s: decodeText = %q, want it to end in %q", c.name, got, text)
		}
		if back := enc.encode(got); !bytes.Equal(back, c.raw) {
			t.Errorf("%s: encode(decode(x)) = %x, want %x", c.name, back, c.raw)
		}
	}
}

func TestDecodeRefusesWhatItCannotWriteBack(t *testing.T) {
	for _, c := range []struct {
		name string
		raw  []byte
		want string
	}{
		{"UTF-16 cut short", utf16Bytes("[wsl2]\n", false)[:7], "odd number of bytes"},
		{"unpaired surrogate", append(utf16Bytes("[wsl2]\n", false), 0x00, 0xD8), "unpaired surrogate"},
		{"UTF-16 without BOM", utf16Bytes("[wsl2]\n", false)[2:], "without a byte-order mark"},
	} {
		if _, _, err := decodeText("C:/Users/ada/.wslconfig", c.raw); err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "C:/Users/ada/.wslconfig") {
			t.Errorf("%s: decodeText = %v, want an error naming the file and saying %q", c.name, err, c.want)
		}
	}
}
