package kconfig

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// Rules is what a kernel tree's Kconfig files say about each symbol: where it is defined, its
// type, whether a user can set it, what it depends on and what selects it. It is read to explain
// a value, not to compute one: make olddefconfig stays the authority.
type Rules struct {
	Symbols map[string]*Symbol
	Choices [][]string // the members of each choice group: only one of them can be y
	Files   int        // Kconfig files read
}

// Symbol is everything the Kconfig files say about one symbol.
type Symbol struct {
	Name       string
	Type       string // bool, tristate, string, int, hex; "" if never typed
	Defs       []*Def
	SelectedBy []Reverse
	ImpliedBy  []Reverse
	Choice     int // 1 + the index of its choice group in Rules.Choices; 0 when not in a choice
}

// Def is one "config SYM" entry; a symbol may have several, in different files.
type Def struct {
	File     string // relative to the tree
	Line     int
	Prompt   string // "" when the entry offers no prompt
	PromptIf Expr   // the prompt's "if" condition, or nil
	Depends  Expr   // every "depends on" of the entry and the if/menu/choice blocks around it; nil for none
}

// Reverse is one "select SYM [if COND]" (or imply) in another symbol's entry.
type Reverse struct {
	By   string
	If   Expr // nil when unconditional
	File string
	Line int
}

// Visible reports whether some definition has a prompt, so a fragment can set the symbol.
func (s *Symbol) Visible() bool {
	for _, d := range s.Defs {
		if d.Prompt != "" {
			return true
		}
	}
	return false
}

var (
	kwLine   = regexp.MustCompile(`^\s*(\S+)\s*(.*)$`)
	macroRef = regexp.MustCompile(`\$\(([A-Za-z0-9_]+)\)`)
	typeKw   = map[string]string{"bool": "bool", "tristate": "tristate", "string": "string", "int": "int", "hex": "hex", "def_bool": "bool", "def_tristate": "tristate"}
	sourceKw = map[string]bool{"source": true, "osource": true, "rsource": true, "orsource": true}
)

// LoadRules reads the tree's Kconfig files from the top-level Kconfig, following source
// statements with $(SRCARCH) (x86, arm64) as the kernel's make sets it.
func LoadRules(tree, srcarch string) (*Rules, error) {
	l := &loader{tree: tree, vars: map[string]string{"SRCARCH": srcarch, "ARCH": srcarch}, rules: &Rules{Symbols: map[string]*Symbol{}}}
	if err := l.file("Kconfig", nil); err != nil {
		return nil, err
	}
	return l.rules, nil
}

type loader struct {
	tree    string
	vars    map[string]string
	rules   *Rules
	reading map[string]bool // the files being read, for a source loop
}

// block is an open if, menu or choice: its condition applies to everything inside.
type block struct {
	kind string // if, menu, choice
	dep  Expr
}

func (l *loader) symbol(name string) *Symbol {
	s := l.rules.Symbols[name]
	if s == nil {
		s = &Symbol{Name: name}
		l.rules.Symbols[name] = s
	}
	return s
}

func (l *loader) expand(s string) string {
	return macroRef.ReplaceAllStringFunc(s, func(m string) string {
		return l.vars[macroRef.FindStringSubmatch(m)[1]]
	})
}

// file reads one Kconfig file; outer is the dependency of the blocks open where it is sourced.
func (l *loader) file(rel string, outer []block) error {
	if l.reading == nil {
		l.reading = map[string]bool{}
	}
	if l.reading[rel] {
		return fmt.Errorf("%s: sourced again while it is being read (a source loop)", rel)
	}
	l.reading[rel] = true
	defer delete(l.reading, rel)
	f, err := os.Open(filepath.Join(l.tree, rel))
	if err != nil {
		return err
	}
	defer f.Close()
	l.rules.Files++
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)

	stack := append([]block(nil), outer...)
	var (
		cur       *Def    // the config entry being read
		curSym    *Symbol // its symbol
		menuOpen  *block  // a menu or choice whose attributes (depends on) are still being read
		choice    []int   // the choice groups open, innermost last
		helpMin   = -1    // indentation of the help text being skipped; -1 when not in help
		helpFirst bool
		n         int
	)
	where := func() string { return fmt.Sprintf("%s:%d", rel, n) }
	blockDep := func() Expr {
		var e Expr
		for _, b := range stack {
			e = and(e, b.dep)
		}
		return e
	}
	endEntry := func() { cur, curSym = nil, nil }
	for sc.Scan() {
		n++
		raw := sc.Text()
		for strings.HasSuffix(raw, "\\") && sc.Scan() {
			n++
			raw = strings.TrimSuffix(raw, "\\") + " " + sc.Text()
		}
		if helpMin >= 0 {
			if strings.TrimSpace(raw) == "" {
				continue
			}
			ind := indent(raw)
			if helpFirst {
				helpMin, helpFirst = ind, false
				continue
			}
			if ind >= helpMin {
				continue
			}
			helpMin = -1
		}
		line := stripComment(raw)
		m := kwLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		kw, rest := m[1], strings.TrimSpace(m[2])
		switch {
		case kw == "config" || kw == "menuconfig":
			menuOpen = nil
			curSym = l.symbol(rest)
			if len(choice) > 0 && curSym.Choice == 0 {
				g := choice[len(choice)-1]
				curSym.Choice = g + 1
				l.rules.Choices[g] = append(l.rules.Choices[g], curSym.Name)
			}
			cur = &Def{File: rel, Line: n, Depends: blockDep()}
			curSym.Defs = append(curSym.Defs, cur)
		case sourceKw[kw]:
			endEntry()
			path := l.expand(unquote(rest))
			if strings.HasPrefix(kw, "r") || strings.HasPrefix(kw, "or") {
				path = filepath.ToSlash(filepath.Join(filepath.Dir(rel), path))
			}
			matches, _ := filepath.Glob(filepath.Join(l.tree, path))
			if len(matches) == 0 && !strings.HasPrefix(kw, "o") {
				return fmt.Errorf("%s: sourced file %s does not exist", where(), path)
			}
			for _, mt := range matches {
				if info, err := os.Stat(mt); err != nil || info.IsDir() {
					return fmt.Errorf("%s: sourced %s is not a file", where(), path)
				}
				r, _ := filepath.Rel(l.tree, mt)
				if err := l.file(filepath.ToSlash(r), stack); err != nil {
					return err
				}
			}
		case kw == "if":
			endEntry()
			e, err := ParseExpr(rest)
			if err != nil {
				return fmt.Errorf("%s: %w", where(), err)
			}
			stack = append(stack, block{kind: "if", dep: e})
		case kw == "menu" || kw == "choice":
			endEntry()
			if kw == "choice" {
				choice = append(choice, len(l.rules.Choices))
				l.rules.Choices = append(l.rules.Choices, nil)
			}
			stack = append(stack, block{kind: kw})
			menuOpen = &stack[len(stack)-1]
		case kw == "endif" || kw == "endmenu" || kw == "endchoice":
			endEntry()
			menuOpen = nil
			if kw == "endchoice" && len(choice) > 0 {
				choice = choice[:len(choice)-1]
			}
			if len(stack) > len(outer) {
				stack = stack[:len(stack)-1]
			}
		case kw == "comment" || kw == "mainmenu":
			endEntry()
			menuOpen = nil
		case kw == "help" || kw == "---help---":
			helpMin, helpFirst = 0, true
		case kw == "depends":
			e, err := dependsOn(strings.TrimSpace(strings.TrimPrefix(rest, "on")))
			if err != nil {
				return fmt.Errorf("%s: %w", where(), err)
			}
			switch {
			case cur != nil:
				cur.Depends = and(cur.Depends, e)
			case menuOpen != nil:
				menuOpen.dep = and(menuOpen.dep, e)
			}
		case typeKw[kw] != "" || kw == "prompt":
			if curSym == nil {
				continue // a choice's own type or prompt
			}
			if kw != "prompt" && curSym.Type == "" {
				curSym.Type = typeKw[kw]
			}
			if kw == "def_bool" || kw == "def_tristate" || rest == "" {
				continue
			}
			prompt, cond := splitIf(rest)
			cur.Prompt = unquote(prompt)
			if cond != "" {
				e, err := ParseExpr(cond)
				if err != nil {
					return fmt.Errorf("%s: %w", where(), err)
				}
				cur.PromptIf = e
			}
		case kw == "select" || kw == "imply":
			if curSym == nil {
				continue
			}
			target, cond := splitIf(rest)
			rv := Reverse{By: curSym.Name, File: rel, Line: n}
			if cond != "" {
				e, err := ParseExpr(cond)
				if err != nil {
					return fmt.Errorf("%s: %w", where(), err)
				}
				rv.If = e
			}
			t := l.symbol(strings.TrimSpace(target))
			if kw == "select" {
				t.SelectedBy = append(t.SelectedBy, rv)
			} else {
				t.ImpliedBy = append(t.ImpliedBy, rv)
			}
		}
	}
	return sc.Err()
}

// splitIf splits `X if COND` at the "if" that is not inside quotes.
// dependsOn parses what follows "depends on": an expression, or since Linux 7.0 a conditional
// dependency "X if Y", which the kernel's parser makes "!Y || X": X is required only where Y holds.
func dependsOn(s string) (Expr, error) {
	dep, cond := splitIf(s)
	e, err := ParseExpr(dep)
	if err != nil || cond == "" {
		return e, err
	}
	c, err := ParseExpr(cond)
	if err != nil {
		return nil, fmt.Errorf("the condition of %q: %w", s, err)
	}
	return &binExpr{op: "||", l: &notExpr{x: c}, r: e}, nil
}

func splitIf(s string) (head, cond string) {
	inQuote := false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			inQuote = !inQuote
		case !inQuote && strings.HasPrefix(s[i:], "if") && (i == 0 || s[i-1] == ' ' || s[i-1] == '\t') &&
			(i+2 == len(s) || s[i+2] == ' ' || s[i+2] == '\t' || s[i+2] == '('):
			return strings.TrimSpace(s[:i]), strings.TrimSpace(s[i+2:])
		}
	}
	return strings.TrimSpace(s), ""
}

func stripComment(s string) string {
	inQuote := byte(0)
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case inQuote != 0 && c == '\\':
			i++
		case inQuote != 0 && c == inQuote:
			inQuote = 0
		case inQuote == 0 && (c == '"' || c == '\''):
			inQuote = c
		case inQuote == 0 && c == '#':
			return s[:i]
		}
	}
	return s
}

func unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && (s[0] == '"' || s[0] == '\'') && s[len(s)-1] == s[0] {
		return strings.NewReplacer(`\"`, `"`, `\'`, `'`, `\\`, `\`).Replace(s[1 : len(s)-1])
	}
	return s
}

func indent(s string) int {
	n := 0
	for _, c := range s {
		switch c {
		case ' ':
			n++
		case '\t':
			n = (n/8 + 1) * 8
		default:
			return n
		}
	}
	return n
}
