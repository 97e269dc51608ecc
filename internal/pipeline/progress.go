package pipeline

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// quietCommand is a line of kbuild's quiet output: "  CC      kernel/fork.o", "  LD [M]  x.ko".
var quietCommand = regexp.MustCompile(`^  [A-Z][A-Z0-9_]*( \[M\])? +\S`)

// buildProgress passes make's output to the log, counts the commands it reports (one per object,
// archive or generated file) and, on a terminal, draws one line with done / expected and an ETA.
type buildProgress struct {
	log       io.Writer
	term      io.Writer // nil when not a terminal
	label     string
	expected  int  // from the last build of this config, else an estimate
	fromEmpty bool // nothing was compiled when the build started: its count is the next expectation
	done      int
	start     time.Time
	drawn     time.Time
	partial   []byte
}

func (p *buildProgress) Write(b []byte) (int, error) {
	n, err := p.log.Write(b)
	data := append(p.partial, b...)
	for {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			break
		}
		if quietCommand.Match(data[:i]) {
			p.done++
		}
		data = data[i+1:]
	}
	p.partial = append(p.partial[:0], data...)
	if p.term != nil && time.Since(p.drawn) > 250*time.Millisecond {
		p.drawn = time.Now()
		fmt.Fprintf(p.term, "%s%s", redraw, p.line())
	}
	return n, err
}

// line is the progress line: done / expected, percent and ETA while below the expectation.
func (p *buildProgress) line() string {
	s := fmt.Sprintf("%s: %d", p.label, p.done)
	if p.expected > 0 {
		s += fmt.Sprintf("/%d commands", p.expected)
		if p.done > 0 && p.done < p.expected {
			elapsed := time.Since(p.start)
			eta := time.Duration(float64(elapsed) / float64(p.done) * float64(p.expected-p.done))
			s += fmt.Sprintf(" (%d%%), ETA %s", p.done*100/p.expected, eta.Round(time.Second))
		}
	} else {
		s += " commands"
	}
	return s
}

// clear removes the progress line from the terminal.
func (p *buildProgress) clear() {
	if p.term != nil {
		fmt.Fprint(p.term, redraw)
	}
}

// expectedCommands is how many commands the last complete build from an empty tree of this
// config ran (recorded beside it), else an estimate from the config's size.
func expectedCommands(outDir string, settingsOn int) int {
	data, err := os.ReadFile(filepath.Join(outDir, ".wslkernel-commands"))
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && n > 0 {
			return n
		}
	}
	return settingsOn * 2
}

// startsFromEmpty says whether a build about to start in outDir starts from an empty tree, and
// marks the tree as built in. A build stopped at any point (even before its first object: the
// headers, objtool and scripts come first) leaves the mark, so its resumption is not taken for a
// build from empty; a tree built before the mark existed has its objects (init/main.o).
func startsFromEmpty(outDir string) bool {
	mark := filepath.Join(outDir, ".wslkernel-build-started")
	_, err := os.Stat(mark)
	_, objErr := os.Stat(filepath.Join(outDir, "init", "main.o"))
	empty := os.IsNotExist(err) && os.IsNotExist(objErr)
	os.WriteFile(mark, nil, 0o644)
	return empty
}

// recordCommands keeps the count of a build that started from an empty tree, for the next one.
func recordCommands(outDir string, n int) {
	os.WriteFile(filepath.Join(outDir, ".wslkernel-commands"), []byte(strconv.Itoa(n)+"\n"), 0o644)
}

// redraw starts every live progress line: back to the line's start, erase it.
const redraw = "\r\033[K"

// PlainProgress turns live progress, drawn over itself on a terminal, into lines, for a log or a
// program that follows the run (kbuild --progress plain): the first update of each kind ("build
// [x86_64]", "export") at once, then at most one every plainEvery. Erasing alone writes nothing;
// anything else passes as it is.
func PlainProgress(w io.Writer) io.Writer { return &plainProgress{w: w, last: map[string]time.Time{}} }

// plainEvery is how often plain progress repeats an update of the same kind.
const plainEvery = 5 * time.Second

type plainProgress struct {
	w    io.Writer
	last map[string]time.Time
}

func (p *plainProgress) Write(b []byte) (int, error) {
	line, ok := bytes.CutPrefix(b, []byte(redraw))
	if !ok {
		return p.w.Write(b)
	}
	kind, _, _ := bytes.Cut(line, []byte(":"))
	if last, seen := p.last[string(kind)]; seen && time.Since(last) < plainEvery {
		return len(b), nil
	}
	p.last[string(kind)] = time.Now()
	if len(line) > 0 {
		if _, err := p.w.Write(append(line, '\n')); err != nil {
			return 0, err
		}
	}
	return len(b), nil
}

// labelWidth is the column where a console line's message starts, past its label (a stage and
// its arch, "warning", "note"), so that the lines of a run line up.
const labelWidth = 18

// Say prints a console line: the label padded to labelWidth, then the message; each further
// line is printed under the message, in its column. It is one write, so the lines of arches
// built side by side do not interleave.
func Say(w io.Writer, label, message string, more ...string) {
	text := fmt.Sprintf("%-*s %s\n", labelWidth, label, message)
	for _, m := range more {
		text += fmt.Sprintf("%-*s %s\n", labelWidth, "", m)
	}
	io.WriteString(w, text)
}
