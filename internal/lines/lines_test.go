package lines

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

func TestEach(t *testing.T) {
	const text = "a # one\n\n  # only a comment\n\tb\n# CONFIG_C is not set\n"
	for _, tc := range []struct {
		comments Comments
		want     []string
	}{
		{Kept, []string{"1:a # one", "3:# only a comment", "4:b", "5:# CONFIG_C is not set"}},
		{WholeLine, []string{"1:a # one", "4:b"}},
		{Trailing, []string{"1:a", "4:b"}},
	} {
		var got []string
		err := Each(strings.NewReader(text), "f", tc.comments, func(n int, line string) error {
			got = append(got, fmt.Sprintf("%d:%s", n, line))
			return nil
		})
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Each(%d) = %q, %v; want %q", tc.comments, got, err, tc.want)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := Each(strings.NewReader("a\nb\n"), "f", Kept, func(int, string) error { calls++; return stop })
	if err != stop || calls != 1 {
		t.Errorf("Each with fn failing = %v after %d calls, want fn's error after 1", err, calls)
	}
	long := strings.Repeat("x", maxLine+1)
	if err := Each(strings.NewReader(long), "f", Kept, func(int, string) error { return nil }); err == nil || !strings.HasPrefix(err.Error(), "f: ") {
		t.Errorf("Each(a line over %d bytes) = %v, want the scanner's error after the file's name", maxLine, err)
	}
}
