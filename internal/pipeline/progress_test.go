package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestBuildProgressCountsCommandsAndDrawsOnATerminal(t *testing.T) {
	var log, term bytes.Buffer
	p := &buildProgress{log: &log, term: &term, label: "build [x86_64]", expected: 4, start: time.Now().Add(-10 * time.Second)}
	out := "make[1]: Entering directory\n  CC      kernel/fork.o\n  CC [M]  lib/crc-itu-t.o\n  LD [M]  lib/crc-itu-t.ko\n  AR   "
	// Written in pieces that split lines, as a pipe delivers them.
	for _, piece := range []string{out[:20], out[20:45], out[45:], "    lib/built-in.a\nwarning: not a command\n"} {
		if _, err := p.Write([]byte(piece)); err != nil {
			t.Fatal(err)
		}
	}
	if log.String() != out+"    lib/built-in.a\nwarning: not a command\n" {
		t.Errorf("the log lost bytes: %q", log.String())
	}
	if p.done != 4 {
		t.Errorf("counted %d commands, want 4", p.done)
	}
	if !strings.Contains(term.String(), "build [x86_64]: ") || !strings.Contains(p.line(), "4/4 commands") {
		t.Errorf("terminal %q, line %q", term.String(), p.line())
	}
	p.done = 1
	if line := p.line(); !strings.Contains(line, "1/4 commands (25%), ETA 30s") {
		t.Errorf("line = %q", line)
	}
	quiet := &buildProgress{log: &log}
	quiet.Write([]byte("  CC      a.o\n"))
	if quiet.done != 1 {
		t.Error("without a terminal the count is still kept")
	}
}

func TestExpectedCommandsComesFromTheLastFreshBuild(t *testing.T) {
	dir := t.TempDir()
	if n := expectedCommands(dir, 500); n != 1000 {
		t.Errorf("estimate = %d", n)
	}
	recordCommands(dir, 2345)
	if n := expectedCommands(dir, 500); n != 2345 {
		t.Errorf("recorded = %d", n)
	}
}

// Plain progress: each redraw becomes a line of its own, erasing alone writes nothing, and other
// output passes as it is.
func TestPlainProgressWritesALinePerUpdate(t *testing.T) {
	var out bytes.Buffer
	p := &buildProgress{log: io.Discard, term: PlainProgress(&out), label: "build [x86_64]", expected: 4, start: time.Now()}
	p.Write([]byte("  CC      kernel/fork.o\n"))
	p.clear()
	fmt.Fprint(PlainProgress(&out), "remote: Counting objects\r")
	if got, want := out.String(), "build [x86_64]: 1/4 commands (25%), ETA 0s\nremote: Counting objects\r"; got != want {
		t.Errorf("plain progress = %q, want %q", got, want)
	}
}

// Plain progress repeats an update of one kind at most every plainEvery: a log gets the first
// export line and the first build line, not every redraw.
func TestPlainProgressThrottlesEachKind(t *testing.T) {
	var out bytes.Buffer
	p := PlainProgress(&out)
	for _, u := range []string{"export: 1 files, 0 MiB", "export: 2 files, 0 MiB", "build [x86_64]: 1 commands", "export: 3 files, 0 MiB"} {
		fmt.Fprint(p, redraw+u)
	}
	if got, want := out.String(), "export: 1 files, 0 MiB\nbuild [x86_64]: 1 commands\n"; got != want {
		t.Errorf("plain progress = %q, want %q", got, want)
	}
}

// Only the first build in a tree starts from empty: one stopped before its first object, or one
// that left objects (a tree from before the mark), does not.
func TestStartsFromEmpty(t *testing.T) {
	dir := t.TempDir()
	if !startsFromEmpty(dir) {
		t.Error("an empty tree: startsFromEmpty = false")
	}
	if startsFromEmpty(dir) {
		t.Error("the same tree again (the first build was stopped before any object): startsFromEmpty = true")
	}
	old := t.TempDir()
	os.MkdirAll(filepath.Join(old, "init"), 0o755)
	os.WriteFile(filepath.Join(old, "init", "main.o"), []byte("obj"), 0o644)
	if startsFromEmpty(old) {
		t.Error("a tree with init/main.o and no mark: startsFromEmpty = true")
	}
}

// Say lines every message up in one column, past labels short and long.
func TestSay(t *testing.T) {
	var b strings.Builder
	Say(&b, "build [x86_64]", "done (1.0s)")
	Say(&b, "REPAIR", "mirror broken", "fetching v6.12.118 again")
	Say(&b, "a label longer than the column", "still said")
	want := "build [x86_64]     done (1.0s)\n" +
		"REPAIR             mirror broken\n" +
		"                   fetching v6.12.118 again\n" +
		"a label longer than the column still said\n"
	if got := b.String(); got != want {
		t.Errorf("Say printed\n%s\nwant\n%s", got, want)
	}
}
