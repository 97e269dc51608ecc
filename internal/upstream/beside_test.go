package upstream

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// removeTree removes what os.RemoveAll would (never what a link points to), unless ctx is done:
// then it stops, leaving the rest for the next run.
func TestRemoveTree(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want error
	}{
		{"live", context.Background(), nil},
		{"cancelled", cancelled, context.Canceled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			outside := t.TempDir()
			os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644)
			tree := filepath.Join(t.TempDir(), "src.tmp-1")
			for _, p := range []string{"a/b/c.c", "a/d.c", "e/f/g/h.c", "top.c"} {
				os.MkdirAll(filepath.Join(tree, filepath.Dir(p)), 0o755)
				os.WriteFile(filepath.Join(tree, p), []byte(p), 0o644)
			}
			os.Symlink(outside, filepath.Join(tree, "a/link"))

			err := removeTree(tc.ctx, tree)
			if !errors.Is(err, tc.want) {
				t.Fatalf("removeTree = %v, want %v", err, tc.want)
			}
			if _, err := os.Lstat(tree); (err == nil) != (tc.want != nil) {
				t.Errorf("after removeTree, %s: %v", tree, err)
			}
			if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
				t.Errorf("removeTree went through a link: %v", err)
			}
		})
	}
}
