package runner

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
)

// DryRun is the Runner of kbuild plan and kpublish --dry-run: it prints to Out each command line
// it is handed, environment first, as a shell would take it, and runs nothing.
type DryRun struct {
	Out io.Writer
	mu  sync.Mutex // arches run in parallel; their lines must not interleave
}

// Run prints the command line.
func (d *DryRun) Run(_ context.Context, name string, args, env []string, _ io.Writer) error {
	d.println(CommandLine(name, args, env))
	return nil
}

// Filter prints the command line; it reads nothing from in and writes nothing to out.
func (d *DryRun) Filter(_ context.Context, name string, args, env []string, _ io.Reader, _ io.Writer) error {
	d.println(CommandLine(name, args, env))
	return nil
}

// LookPath answers from the real PATH. A program that is missing is no failure in a dry run: it
// is named "(not installed)" in the output, and its bare name stands in for its path.
func (d *DryRun) LookPath(name string) (string, error) {
	p, err := lookPath(name)
	if err != nil {
		d.println("# " + name + " (not installed)")
		return name, nil
	}
	return p, nil
}

func (d *DryRun) println(line string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	fmt.Fprintln(d.Out, line)
}

// CommandLine is the command as a shell would take it: each environment variable as an
// assignment before the program (its value quoted), then the program and its arguments, each
// quoted where a shell would split or expand it. A build log starts with one, as a reproducer.
func CommandLine(name string, args, env []string) string {
	words := make([]string, 0, len(env)+1+len(args))
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		if v != "" {
			v = Quote(v)
		}
		words = append(words, k+"="+v)
	}
	words = append(words, Quote(name))
	for _, a := range args {
		words = append(words, Quote(a))
	}
	return strings.Join(words, " ")
}

// Quote is s as one shell word: as it is when every character is plain, else in single quotes.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	if strings.IndexFunc(s, notPlain) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func notPlain(r rune) bool {
	return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune("_@%+=:,./-", r))
}
