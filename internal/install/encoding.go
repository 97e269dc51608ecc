package install

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// textEncoding is how a .wslconfig's bytes hold its text. WSL opens the file with the C runtime's
// "rt,ccs=UTF-8": no byte-order mark means UTF-8, and a UTF-8 or UTF-16 LE mark is honoured.
// PowerShell 5.1 writes UTF-16 LE with a mark, and Notepad may add a UTF-8 mark; a file is written
// back in the encoding it came in, so whatever wrote it can still read it.
type textEncoding int

const (
	plainUTF8 textEncoding = iota
	bomUTF8
	utf16LE
	utf16BE
)

var (
	markUTF8    = []byte{0xEF, 0xBB, 0xBF}
	markUTF16LE = []byte{0xFF, 0xFE}
	markUTF16BE = []byte{0xFE, 0xFF}
)

func (e textEncoding) String() string {
	return [...]string{"UTF-8", "UTF-8 with BOM", "UTF-16 LE", "UTF-16 BE"}[e]
}

// decodeText returns a file's text (UTF-8 in a Go string; a file without a mark keeps its bytes
// as they are) and its encoding. name is for errors.
func decodeText(name string, b []byte) (string, textEncoding, error) {
	switch {
	case bytes.HasPrefix(b, markUTF8):
		return string(b[len(markUTF8):]), bomUTF8, nil
	case bytes.HasPrefix(b, markUTF16LE):
		return decodeUTF16(name, b, utf16LE, binary.LittleEndian)
	case bytes.HasPrefix(b, markUTF16BE):
		return decodeUTF16(name, b, utf16BE, binary.BigEndian)
	case bytes.IndexByte(b, 0) >= 0:
		return "", 0, fmt.Errorf("%s: byte %d is NUL, so the file looks like UTF-16 without a byte-order mark, which WSL cannot read either: save it again as UTF-8 (or UTF-16 with BOM)", name, bytes.IndexByte(b, 0))
	}
	return string(b), plainUTF8, nil
}

func decodeUTF16(name string, b []byte, e textEncoding, order binary.ByteOrder) (string, textEncoding, error) {
	body := b[2:]
	if len(body)%2 != 0 {
		return "", 0, fmt.Errorf("%s: a %s file with an odd number of bytes (%d) is cut short: repair or re-save it before installing", name, e, len(b))
	}
	units := make([]uint16, len(body)/2)
	for i := range units {
		units[i] = order.Uint16(body[2*i:])
	}
	text := string(utf16.Decode(units))
	// An unpaired surrogate would come back as U+FFFD: refuse rather than change the user's bytes.
	if !bytes.Equal(e.encode(text), b) {
		return "", 0, fmt.Errorf("%s: malformed %s (an unpaired surrogate): repair or re-save the file before installing", name, e)
	}
	return text, e, nil
}

// encode gives text back in the encoding, with its byte-order mark.
func (e textEncoding) encode(text string) []byte {
	switch e {
	case bomUTF8:
		return append(append([]byte{}, markUTF8...), text...)
	case utf16LE, utf16BE:
		var order binary.AppendByteOrder = binary.LittleEndian
		out := append([]byte{}, markUTF16LE...)
		if e == utf16BE {
			order, out = binary.BigEndian, append([]byte{}, markUTF16BE...)
		}
		for _, u := range utf16.Encode([]rune(text)) {
			out = order.AppendUint16(out, u)
		}
		return out
	}
	return []byte(text)
}
