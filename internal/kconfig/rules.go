package kconfig

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/wslkernel/wslkernel/internal/version"
)

// Rules is what a kernel tree's Kconfig files say about each symbol: where it is defined, its
// type, whether a user can set it, what it depends on, its defaults, and what selects or implies
// it. It is read to explain a value and to check one (Check): make olddefconfig stays the
// authority that makes the .config.
type Rules struct {
	Symbols map[string]*Symbol
	Choices [][]string // the members of each choice group: only one of them can be y
	Groups  []*Choice  // the same groups with their defaults, Choices[i] is Groups[i].Members
	Modules string     // the symbol with the "modules" attribute (MODULES); "" when none has it
	Files   int        // Kconfig files read
	Tree    string     // the tree they were read from (its Makefiles say what a symbol builds: CodeOf)
	// Series is the tree's kernel series, from its Makefile's VERSION and PATCHLEVEL: the
	// kernel's conf changed how it computes some values (ChoiceRework); the zero Series (no
	// Makefile) is computed as the newest series is.
	Series version.Series
}

// ChoiceRework is the series whose scripts/kconfig reworked choices and conf_read (Masahiro
// Yamada's rework, merged for 6.11). Before it, as 6.1 does:
//   - a choice's members depend on the choice itself, whose value is its prompt's visibility:
//     a "prompt ... if COND" on the choice hides its members, and they are not written
//     (arm64's "Kernel command line type" on 6.1); from it on, only the choice's "depends on" does;
//   - the choice takes the .config's last member set y, else its first default whose condition
//     holds and whose member is visible, else its first visible member; a member the .config
//     sets n does not keep it from being chosen;
//   - conf_read drops a user value of an int, hex or string that is outside its range, and the
//     symbol takes its default; what was computed from the value before is written as computed
//     (conf_write clears no cached value once something changed), so the .config olddefconfig
//     writes is not always a fixed point (Rules.Check says so).
//
// 6.1 (the old ways) and 6.12 (the new) are the trees the agreement test checks; 6.11 is where
// the rework landed as its history tells, not a tree checked here.
var ChoiceRework = version.Series{Major: 6, Minor: 11}

// before reports whether the rules are of a tree older than s (false when the series is unknown).
func (r *Rules) before(s version.Series) bool {
	return r.Series != (version.Series{}) && r.Series.Compare(s) < 0
}

var makefileVar = regexp.MustCompile(`(?m)^(VERSION|PATCHLEVEL)\s*=\s*(\d+)\s*$`)

// treeSeries reads the series from the tree's top Makefile; the zero Series when it has none.
func treeSeries(tree string) version.Series {
	data, err := os.ReadFile(filepath.Join(tree, "Makefile"))
	if err != nil {
		return version.Series{}
	}
	var s version.Series
	for _, m := range makefileVar.FindAllStringSubmatch(string(data), 2) {
		n, _ := strconv.Atoi(m[2])
		if m[1] == "VERSION" {
			s.Major = n
		} else {
			s.Minor = n
		}
	}
	if s.Major == 0 {
		return version.Series{}
	}
	return s
}

// Choice is one choice block: its members in the order they are defined, its dependency (the
// blocks around it and its own depends on) and its "default SYM if COND" lines, in order.
type Choice struct {
	File     string
	Line     int
	Members  []string
	Depends  Expr
	Defaults []Default
}

// Symbol is everything the Kconfig files say about one symbol.
type Symbol struct {
	Name       string
	Type       string // bool, tristate, string, int, hex; "" if never typed
	Defs       []*Def
	SelectedBy []Reverse
	ImpliedBy  []Reverse
	Choice     int // 1 + the index of its choice group in Rules.Choices; 0 when not in a choice
	// Defaults are its default, def_bool and def_tristate lines in the order the kernel reads
	// them, across all its definitions: the first whose condition holds gives the default.
	Defaults []Default
	Ranges   []Range // int and hex: range LO HI [if COND]
	// Transitional (Linux 7.x): the symbol only carries an old name's value from an old .config
	// to the defaults of new symbols, and is never written.
	Transitional bool
}

// Default is one "default VALUE [if COND]" (or def_bool, def_tristate) of a symbol or a choice.
type Default struct {
	Value Expr // for a choice, the member it picks (a symbol)
	If    Expr // its own condition, nil when unconditional
	Def   *Def // the definition it belongs to, whose dependency also applies; nil for a choice's
	File  string
	Line  int
}

// Range is one "range LO HI [if COND]" of an int or hex symbol.
type Range struct {
	Lo, Hi string // symbols or numbers
	If     Expr
	Def    *Def
}

// Def is one "config SYM" entry; a symbol may have several, in different files.
type Def struct {
	File     string // relative to the tree
	Line     int
	Prompt   string // "" when the entry offers no prompt
	PromptIf Expr   // the prompt's "if" condition, or nil
	Depends  Expr   // every "depends on" of the entry and the if/menu/choice blocks around it; nil for none
	// VisibleIf is the "visible if" of the menus around the entry, which hide its prompt (and
	// only its prompt); nil for none.
	VisibleIf Expr
	// Help is the entry's help text, its lines trimmed and joined by one space: what tells a
	// renamed symbol by what it says of itself (RenameCandidates).
	Help string
}

// Reverse is one "select SYM [if COND]" (or imply) in another symbol's entry.
type Reverse struct {
	By   string
	If   Expr // nil when unconditional
	Def  *Def // the selecting entry, whose dependency also limits the select
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
// statements with $(SRCARCH) (x86, arm64) as the kernel's make sets it; $(ARCH) is SRCARCH too.
// Use LoadRulesArch where make's ARCH differs (x86_64), as it does for the values Check computes.
func LoadRules(tree, srcarch string) (*Rules, error) {
	return LoadRulesArch(tree, srcarch, srcarch)
}

// LoadRulesArch reads the tree's Kconfig files as make ARCH=arch reads them: $(ARCH) is arch
// (x86_64) and $(SRCARCH) its arch/ folder (x86), in source paths and in expressions ("64-bit
// kernel" if "$(ARCH)" = "x86"). Any other $(...) stays as written: a toolchain test whose
// outcome Kconfig learns by running the compiler, which Check treats as unknown.
func LoadRulesArch(tree, arch, srcarch string) (*Rules, error) {
	l := &loader{tree: tree, vars: map[string]string{"SRCARCH": srcarch, "ARCH": arch}, rules: &Rules{Symbols: map[string]*Symbol{}, Tree: tree, Series: treeSeries(tree)}}
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
	kind    string // if, menu, choice
	dep     Expr
	visible Expr    // a menu's "visible if": hides the prompts inside, not the symbols
	choice  *Choice // the choice a choice block opened
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

// expandKnown replaces $(ARCH) and $(SRCARCH), as make sets them, and leaves every other $(...)
// as it is.
func (l *loader) expandKnown(s string) string {
	if !strings.Contains(s, "$(") {
		return s
	}
	return macroRef.ReplaceAllStringFunc(s, func(m string) string {
		if v, ok := l.vars[macroRef.FindStringSubmatch(m)[1]]; ok {
			return v
		}
		return m
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
	blockDep := func() (dep, visible Expr) {
		for _, b := range stack {
			dep, visible = and(dep, b.dep), and(visible, b.visible)
		}
		return dep, visible
	}
	// cond parses the "if COND" of a line; "" is no condition.
	cond := func(s string) (Expr, error) {
		if s == "" {
			return nil, nil
		}
		e, err := ParseExpr(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where(), err)
		}
		return e, nil
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
			if helpFirst || ind >= helpMin {
				if helpFirst {
					helpMin, helpFirst = ind, false
				}
				if cur != nil {
					cur.Help = strings.TrimSpace(cur.Help + " " + strings.TrimSpace(raw))
				}
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
		if !sourceKw[kw] {
			rest = l.expandKnown(rest)
		}
		switch {
		case kw == "config" || kw == "menuconfig":
			menuOpen = nil
			curSym = l.symbol(rest)
			if len(choice) > 0 && curSym.Choice == 0 {
				g := choice[len(choice)-1]
				curSym.Choice = g + 1
				l.rules.Choices[g] = append(l.rules.Choices[g], curSym.Name)
				l.rules.Groups[g].Members = l.rules.Choices[g]
			}
			dep, vis := blockDep()
			cur = &Def{File: rel, Line: n, Depends: dep, VisibleIf: vis}
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
			menuOpen = nil
			e, err := ParseExpr(rest)
			if err != nil {
				return fmt.Errorf("%s: %w", where(), err)
			}
			stack = append(stack, block{kind: "if", dep: e})
		case kw == "menu" || kw == "choice":
			endEntry()
			b := block{kind: kw}
			if kw == "choice" {
				choice = append(choice, len(l.rules.Choices))
				l.rules.Choices = append(l.rules.Choices, nil)
				b.choice = &Choice{File: rel, Line: n}
				l.rules.Groups = append(l.rules.Groups, b.choice)
			}
			stack = append(stack, b)
			menuOpen = &stack[len(stack)-1]
			if b.choice != nil {
				b.choice.Depends, _ = blockDep()
			}
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
				if menuOpen.choice != nil {
					menuOpen.choice.Depends, _ = blockDep()
				}
			}
		case kw == "visible":
			if menuOpen == nil || menuOpen.kind != "menu" {
				continue
			}
			c, err := cond(strings.TrimSpace(strings.TrimPrefix(rest, "if")))
			if err != nil {
				return err
			}
			menuOpen.visible = and(menuOpen.visible, c)
		case kw == "default" && curSym == nil:
			if menuOpen == nil || menuOpen.choice == nil {
				continue
			}
			target, c := splitIf(rest)
			e, err := cond(c)
			if err != nil {
				return err
			}
			menuOpen.choice.Defaults = append(menuOpen.choice.Defaults, Default{Value: &symExpr{name: target}, If: e, File: rel, Line: n})
		case kw == "default" || kw == "def_bool" || kw == "def_tristate":
			if curSym == nil {
				continue
			}
			if curSym.Type == "" && kw != "default" {
				curSym.Type = typeKw[kw]
			}
			value, c := splitIf(rest)
			v, err := cond(value)
			if err != nil {
				return err
			}
			e, err := cond(c)
			if err != nil {
				return err
			}
			if v == nil {
				return fmt.Errorf("%s: %s without a value", where(), kw)
			}
			curSym.Defaults = append(curSym.Defaults, Default{Value: v, If: e, Def: cur, File: rel, Line: n})
		case typeKw[kw] != "" || kw == "prompt":
			if curSym == nil {
				// A choice's own type or prompt. Before ChoiceRework, the prompt's condition
				// bounds the choice's value, and so its members (menu_finalize's parentdep).
				if menuOpen != nil && menuOpen.choice != nil && l.rules.before(ChoiceRework) {
					_, c := splitIf(rest)
					e, err := cond(c)
					if err != nil {
						return err
					}
					if e != nil {
						menuOpen.dep = and(menuOpen.dep, e)
						menuOpen.choice.Depends, _ = blockDep()
					}
				}
				continue
			}
			if kw != "prompt" && curSym.Type == "" {
				curSym.Type = typeKw[kw]
			}
			if rest == "" {
				continue
			}
			prompt, c := splitIf(rest)
			cur.Prompt = unquote(prompt)
			e, err := cond(c)
			if err != nil {
				return err
			}
			cur.PromptIf = e
		case kw == "range":
			if curSym == nil {
				continue
			}
			bounds, c := splitIf(rest)
			f := strings.Fields(bounds)
			if len(f) != 2 {
				return fmt.Errorf("%s: range wants two bounds, got %q", where(), bounds)
			}
			e, err := cond(c)
			if err != nil {
				return err
			}
			curSym.Ranges = append(curSym.Ranges, Range{Lo: f[0], Hi: f[1], If: e, Def: cur})
		case kw == "modules":
			if curSym != nil {
				l.rules.Modules = curSym.Name
			}
		case kw == "transitional":
			if curSym != nil {
				curSym.Transitional = true
			}
		case kw == "select" || kw == "imply":
			if curSym == nil {
				continue
			}
			target, c := splitIf(rest)
			e, err := cond(c)
			if err != nil {
				return err
			}
			rv := Reverse{By: curSym.Name, If: e, Def: cur, File: rel, Line: n}
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

// dependsOn parses what follows "depends on": an expression, or since Linux 7.0 a conditional
// dependency "X if Y", which the kernel's parser (menu_add_dep) makes "X || (Y = n)": X is
// required only where Y is not n. "Y = n" is expr_trans_compare's rewriting of Y, which is not
// !Y: for Y = m it is n, where !Y is m, so "depends on X if Y" needs X in full when Y is m.
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
	return &binExpr{op: "||", l: e, r: transCompare(c, "=")}, nil
}

// transCompare is the kernel's expr_trans_compare(e, op, n): e compared with n, pushed down to
// the symbols ("A && B" = n is "A = n || B = n", "!A" = n is "A != n").
func transCompare(e Expr, op string) Expr {
	negate := func(x Expr) Expr {
		if op == "!=" {
			return &notExpr{x: x}
		}
		return x
	}
	switch e := e.(type) {
	case *binExpr:
		l, r := transCompare(e.l, "="), transCompare(e.r, "=")
		if e.op == "&&" {
			return negate(&binExpr{op: "||", l: l, r: r})
		}
		return negate(&binExpr{op: "&&", l: l, r: r})
	case *notExpr:
		if op == "=" {
			return transCompare(e.x, "!=")
		}
		return transCompare(e.x, "=")
	case *cmpExpr:
		if op == "=" {
			return &notExpr{x: e}
		}
		return e
	case *symExpr:
		return &cmpExpr{op: op, l: e, r: &symExpr{name: "n"}}
	}
	return e
}

// splitIf splits `X if COND` at the "if" that is not inside quotes.
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
