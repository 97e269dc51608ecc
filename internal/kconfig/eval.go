package kconfig

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Agreement
//
// Check recomputes every symbol of a .config that make olddefconfig wrote, the way the kernel's
// scripts/kconfig computes it (sym_calc_value in symbol.c, Linux 6.12 to 7.3; a tree before
// ChoiceRework, such as 6.1, as its own conf does: see ChoiceRework), and compares.
// olddefconfig's output is a fixed point: read back as the user's input, every symbol computes
// to the value it was written with. So each symbol is computed from the .config alone: every
// other symbol at its .config value (a symbol without a line at the value the kernel gives an
// unwritten one: n, "0", "0x0", ""), and its own line as what the user asked for. The rules are
// the kernel's:
//
//   - visibility: the best of its prompts' conditions (the entry's dependencies, the prompt's
//     "if", the "visible if" of the menus around it), y for a transitional symbol;
//   - a visible bool or tristate takes its line, limited by its visibility; otherwise its first
//     default whose condition holds, raised to what "imply" asks and limited by its dependencies;
//     then raised to what "select" forces, past its dependencies; m becomes y for a bool, and
//     for a tristate when MODULES is n;
//   - a choice's visible members: the last one the .config sets y, else its first default whose
//     condition holds and whose member is visible, else its first visible member; the others n;
//   - an int, hex or string: its line when visible, else its first default whose condition
//     holds; an int or hex is then held within its first range whose condition holds;
//   - a line is written exactly when the kernel's SYMBOL_WRITE is set: the symbol is visible,
//     selected or implied, or has a default (for a bool or tristate, a default that is not n);
//     never for a choice or a transitional symbol; "# CONFIG_X is not set" for a written n;
//   - expressions: && is the smaller, || the larger, !x is 2 - x; the constant m in a dependency
//     or condition is "m && MODULES"; a comparison compares numbers when both sides read as
//     numbers of their types, else the strings; an undefined symbol is n, with its name as its
//     string; "depends on X if Y" is X || (Y = n).
//
// The rules and the .config agree when, for every symbol the Kconfig files give a type, the
// computed line is the .config's: the same value, and a line exactly where the .config has one
// (the order of the lines aside). A .config line for a symbol no Kconfig file types is a
// disagreement too. The one thing Check cannot compute is a toolchain test, $(cc-option,...) and
// the like, which Kconfig answers by running the compiler. Each test is y or n, and a symbol
// whose value depends on tests agrees when it agrees for some outcome of them; a test that only
// one symbol's value depends on must have one outcome every such symbol agrees with. A default
// that is a test's text (an int or string, like the compiler's version) is taken from the
// .config.

// Finding is a symbol on which the rules and the .config disagree: the line each gives it.
type Finding struct {
	Symbol    string
	Want, Got string // the .config's line and ours, as a .config writes it; "" for no line
	Tests     []string
}

func (f Finding) String() string {
	line := func(v string) string {
		if v == "" {
			return "no line"
		}
		return v
	}
	s := fmt.Sprintf("CONFIG_%s: the .config has %s, the Kconfig rules give %s", f.Symbol, line(f.Want), line(f.Got))
	if len(f.Tests) > 0 {
		s += " (for every outcome of " + strings.Join(f.Tests, ", ") + ")"
	}
	return s
}

// CheckResult is what Check found.
type CheckResult struct {
	Checked   int                 // symbols compared (every typed symbol)
	Written   int                 // of which the .config has a line for
	Toolchain map[string][]string // symbol -> the toolchain tests its value depends on
	Findings  []Finding
}

// Check computes every symbol from final and compares: see Agreement above. final must be a
// .config olddefconfig wrote for the tree and arch the rules were read from (LoadRulesArch).
func (r *Rules) Check(final *Config) *CheckResult {
	ev := newEvaluator(r, final)
	res := &CheckResult{Toolchain: map[string][]string{}}
	names := r.typedNames()
	outcomes := map[string]map[int]bool{} // a test one symbol depends on alone -> outcomes agreed with
	for _, name := range names {
		res.Checked++
		want := ""
		if s, ok := final.Get(name); ok {
			res.Written++
			want = configLine(name, s.Value)
		}
		got, tests, wild, agreeing := ev.checkSymbol(name, want)
		if wild != "" {
			res.Toolchain[name] = append(slices.Clip(tests), wild)
		} else if len(tests) > 0 {
			res.Toolchain[name] = tests
		}
		if len(agreeing) == 0 {
			res.Findings = append(res.Findings, Finding{Symbol: name, Want: want, Got: got, Tests: tests})
			continue
		}
		if len(tests) == 1 {
			set := map[int]bool{}
			for _, a := range agreeing {
				set[a[tests[0]]] = true
			}
			if prev, ok := outcomes[tests[0]]; ok {
				for v := range prev {
					if !set[v] {
						delete(prev, v)
					}
				}
			} else {
				outcomes[tests[0]] = set
			}
		}
	}
	for _, s := range final.Settings() {
		if sym := r.Symbols[s.Symbol]; sym == nil || sym.Type == "" {
			res.Findings = append(res.Findings, Finding{Symbol: s.Symbol, Want: configLine(s.Symbol, s.Value), Got: ""})
		}
	}
	tests := make([]string, 0, len(outcomes))
	for t := range outcomes {
		tests = append(tests, t)
	}
	slices.Sort(tests)
	for _, t := range tests {
		if len(outcomes[t]) == 0 {
			res.Findings = append(res.Findings, Finding{Symbol: "(toolchain test)", Want: "one outcome", Got: "none that every symbol depending on it agrees with", Tests: []string{t}})
		}
	}
	return res
}

// evaluator computes symbols from a .config, with assumed outcomes for the toolchain tests.
type evaluator struct {
	r       *Rules
	f       *Config        // where the other symbols' values come from (Check), or the reference (Replay)
	in      *Config        // the user's input: f for Check, the .config olddefconfig read for Replay
	pos     map[string]int // each symbol's line number in in, for the choice members' priority
	modules int
	// Replay only: each symbol's computed value, and the symbols whose value a toolchain test
	// decides, taken from the reference.
	sim     map[string]*simValue
	taken   map[string]bool
	tests   map[string]int  // the assumed outcome of each toolchain test met so far
	missing map[string]bool // tests met without an assumed outcome (taken as n)
	wild    string          // the default that gave the value, when it is a test's text: the value is the .config's
	dropped map[string]bool // user values conf_read dropped (resetOutOfRange)
}

func newEvaluator(r *Rules, f *Config) *evaluator {
	ev := &evaluator{r: r, f: f, in: f, pos: map[string]int{}, tests: map[string]int{}, missing: map[string]bool{}}
	for i, s := range f.Settings() {
		ev.pos[s.Symbol] = i
	}
	if r.Modules != "" {
		ev.modules = ev.tri(r.Modules)
	}
	return ev
}

// checkSymbol computes name's line ("" for none) for every outcome of the tests its value
// depends on, and returns the line for the first outcome (all n), the tests, the default whose
// text is a test ("" for none: its value is the .config's), and the outcomes under which the
// line is want.
func (ev *evaluator) checkSymbol(name, want string) (first string, tests []string, wild string, agreeing []map[string]int) {
	for {
		agreeing = nil
		more := map[string]bool{}
		for combo := 0; combo < 1<<len(tests); combo++ {
			assumed := map[string]int{}
			for i, t := range tests {
				assumed[t] = 2 * (combo >> i & 1)
			}
			ev.tests, ev.missing, ev.wild = assumed, map[string]bool{}, ""
			got := ev.line(name)
			for t := range ev.missing {
				more[t] = true
			}
			if ev.wild != "" {
				wild = ev.wild
				if want != "" && got != "" {
					got = want
				}
			}
			if combo == 0 {
				first = got
			}
			if got == want {
				agreeing = append(agreeing, assumed)
			}
		}
		if len(more) == 0 {
			return first, tests, wild, agreeing
		}
		for _, t := range tests {
			more[t] = true
		}
		tests = slices.Sorted(mapKeys(more))
		if len(tests) > 8 {
			return first, tests, wild, nil // too many to try each: a disagreement, named
		}
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// configLine is a symbol's line in a .config.
func configLine(name, value string) string {
	if value == "n" {
		return "# CONFIG_" + name + " is not set"
	}
	return "CONFIG_" + name + "=" + value
}

// escapeConfig quotes a string as conf_write does: a backslash before each quote and backslash.
func escapeConfig(v string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"`
}

// lineValue is a .config value as Check compares it: a string without its quotes and escapes.
func (ev *evaluator) lineValue(name, v string) string {
	if s := ev.r.Symbols[name]; s != nil && s.Type == "string" && strings.HasPrefix(v, `"`) {
		return unescapeConfig(v)
	}
	return v
}

// unescapeConfig reads a quoted .config string as conf_set_sym_val does: up to the first
// unescaped quote, each backslash dropped and the character after it kept.
func unescapeConfig(v string) string {
	var b strings.Builder
	for i := 1; i < len(v); i++ {
		switch v[i] {
		case '"':
			return b.String()
		case '\\':
			i++
			if i < len(v) {
				b.WriteByte(v[i])
			}
		default:
			b.WriteByte(v[i])
		}
	}
	return b.String()
}

// isTest reports whether a symbol's text is (or contains) a macro Kconfig expands by running a
// program: $(cc-option,...), $(success,...), $(shell,...), an environment variable.
func isTest(name string) bool { return strings.Contains(name, "$(") }

func (ev *evaluator) test(key string) int {
	if v, ok := ev.tests[key]; ok {
		return v
	}
	ev.missing[key] = true
	return 0
}

// typeOf is the symbol's declared type (sym->type): "" for an undefined symbol or a constant
// other than y, m and n.
func (ev *evaluator) typeOf(name string) string {
	switch name {
	case "y", "m", "n":
		return "tristate"
	}
	if s := ev.r.Symbols[name]; s != nil {
		return s.Type
	}
	return ""
}

// getType is sym_get_type: a tristate is a bool while MODULES is n.
func (ev *evaluator) getType(name string) string {
	t := ev.typeOf(name)
	if t == "tristate" && ev.modules == 0 {
		return "bool"
	}
	return t
}

// user is the symbol's .config line as conf_read takes it for the user's value; ok is false for
// no line, or one conf_read rejects.
func (ev *evaluator) user(name string) (string, bool) {
	set, ok := ev.in.Get(name)
	if !ok || ev.dropped[name] {
		return "", false
	}
	v := set.Value
	switch ev.typeOf(name) {
	case "tristate":
		if strings.HasPrefix(v, "m") {
			return "m", true
		}
		fallthrough
	case "bool":
		switch {
		case strings.HasPrefix(v, "y"):
			return "y", true
		case strings.HasPrefix(v, "n"):
			return "n", true
		}
		return "", false
	case "string":
		if !strings.HasPrefix(v, `"`) {
			return "", false
		}
		return unescapeConfig(v), true
	case "int", "hex":
		if stringValid(ev.typeOf(name), v) {
			return v, true
		}
	}
	return "", false
}

// stringValid is sym_string_valid for int and hex.
func stringValid(typ, v string) bool {
	if typ == "int" {
		s := strings.TrimPrefix(v, "-")
		if s == "" || s[0] < '0' || s[0] > '9' || s[0] == '0' && len(s) > 1 {
			return false
		}
		for _, c := range []byte(s) {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	s := v
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if !isHexDigit(c) {
			return false
		}
	}
	return true
}

func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// tri is the symbol's tristate value (curr.tri): the .config's for a bool or tristate, n for
// any other symbol or constant.
func (ev *evaluator) tri(name string) int {
	switch name {
	case "y":
		return 2
	case "m":
		return 1
	case "n":
		return 0
	}
	if isTest(name) {
		return ev.test(name)
	}
	switch ev.typeOf(name) {
	case "bool", "tristate":
		if ev.sim != nil {
			v, _ := ev.simulate(name)
			return tri(v)
		}
		return tri(ev.f.Value(name))
	}
	return 0
}

// str is the symbol's string value (sym_get_string_value).
func (ev *evaluator) str(name string) string {
	if isTest(name) {
		return TriName(ev.test(name))
	}
	if strings.HasPrefix(name, `"`) {
		return unquoteExpr(name)
	}
	switch ev.typeOf(name) {
	case "bool", "tristate":
		return TriName(ev.tri(name))
	case "int", "hex", "string":
		if ev.sim != nil {
			v, _ := ev.simulate(name)
			return v
		}
		if set, ok := ev.f.Get(name); ok {
			return ev.lineValue(name, set.Value)
		}
		return ev.unwritten(name)
	}
	return name // an undefined symbol's string is its name
}

// unquoteExpr is a quoted constant's text, as the Kconfig lexer reads it: a backslash keeps the
// character after it.
func unquoteExpr(s string) string {
	if len(s) < 2 || s[len(s)-1] != '"' {
		return s
	}
	s = s[1 : len(s)-1]
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unwritten is the value of an int, hex or string symbol the .config has no line for: the
// kernel's starting value, held within its range.
func (ev *evaluator) unwritten(name string) string {
	v := map[string]string{"int": "0", "hex": "0x0"}[ev.typeOf(name)]
	return ev.clamp(name, v)
}

// calc is expr_calc_value; rewrite applies rewrite_m (m is m && MODULES), as the kernel does to
// dependencies and conditions but not to default values.
func (ev *evaluator) calc(e Expr, rewrite bool) int {
	switch e := e.(type) {
	case nil:
		return 2
	case *symExpr:
		if rewrite && e.name == "m" {
			return min(1, ev.modules)
		}
		return ev.tri(e.name)
	case *notExpr:
		return 2 - ev.calc(e.x, rewrite)
	case *binExpr:
		l, r := ev.calc(e.l, rewrite), ev.calc(e.r, rewrite)
		if e.op == "&&" {
			return min(l, r)
		}
		return max(l, r)
	case *cmpExpr:
		if isTest(e.l.name) || isTest(e.r.name) {
			return ev.test(e.l.name + " " + e.op + " " + e.r.name)
		}
		return ev.compare(e)
	}
	panic(fmt.Sprintf("kconfig: unknown expression %T", e))
}

// compare is expr_calc_value's comparison: numbers when both sides read as numbers of their
// types (bool and tristate as 0, 1, 2), else the strings.
func (ev *evaluator) compare(e *cmpExpr) int {
	s1, s2 := ev.str(e.l.name), ev.str(e.r.name)
	t1, t2 := ev.typeOf(e.l.name), ev.typeOf(e.r.name)
	var res int
	k1, k2 := kString, kString
	var l1, l2 number
	if t1 != "string" || t2 != "string" {
		k1, l1 = parseNumber(s1, t1)
		k2, l2 = parseNumber(s2, t2)
	}
	switch {
	case k1 == kString || k2 == kString:
		res = strings.Compare(s1, s2)
	case k1 == kUnsigned || k2 == kUnsigned:
		res = cmp.Compare(l1.u, l2.u)
	default:
		res = cmp.Compare(l1.s, l2.s)
	}
	if holds(e.op, res) {
		return 2
	}
	return 0
}

const (
	kString = iota
	kSigned
	kUnsigned
)

// number is the kernel's union string_value: u is s's bits when s was set.
type number struct {
	s int64
	u uint64
}

// parseNumber is expr_parse_string.
func parseNumber(s, typ string) (int, number) {
	switch typ {
	case "bool", "tristate":
		v := int64(-1)
		switch s {
		case "n":
			v = 0
		case "m":
			v = 1
		case "y":
			v = 2
		}
		return kSigned, number{s: v, u: uint64(v)}
	case "int":
		v, n, ok := strtoll(s, 10)
		if ok && n == len(s) && n > 0 {
			return kSigned, number{s: v, u: uint64(v)}
		}
	case "hex":
		v, n, ok := strtoull(s, 16)
		if ok && n == len(s) && n > 0 && isHexDigit(s[n-1]) {
			return kUnsigned, number{u: v}
		}
	default:
		v, n, ok := strtoll(s, 0)
		if ok && n == len(s) && n > 0 && isHexDigit(s[n-1]) {
			return kSigned, number{s: v, u: uint64(v)}
		}
	}
	return kString, number{}
}

// strtoll is C's: leading space, a sign, then digits in base (0: 0x hex, 0 octal, else
// decimal); n is how many bytes it read (0 when no digits), ok false on overflow.
func strtoll(s string, base int) (v int64, n int, ok bool) {
	u, n, neg, ok := strtoParse(s, base)
	if n == 0 {
		return 0, 0, true
	}
	if neg {
		if u > 1<<63 {
			return 0, n, false
		}
		return -int64(u), n, ok
	}
	if u > 1<<63-1 {
		return 0, n, false
	}
	return int64(u), n, ok
}

func strtoull(s string, base int) (uint64, int, bool) {
	u, n, neg, ok := strtoParse(s, base)
	if neg {
		u = -u
	}
	return u, n, ok
}

func strtoParse(s string, base int) (u uint64, n int, neg, ok bool) {
	i := 0
	for i < len(s) && strings.IndexByte(" \t\n\v\f\r", s[i]) >= 0 {
		i++
	}
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		neg = s[i] == '-'
		i++
	}
	hexPrefix := i+2 < len(s) && s[i] == '0' && (s[i+1] == 'x' || s[i+1] == 'X') && isHexDigit(s[i+2])
	switch {
	case (base == 0 || base == 16) && hexPrefix:
		base, i = 16, i+2
	case base == 0 && i < len(s) && s[i] == '0':
		base = 8
	case base == 0:
		base = 10
	}
	start := i
	ok = true
	for ; i < len(s); i++ {
		d, err := strconv.ParseUint(s[i:i+1], base, 8)
		if err != nil {
			break
		}
		if u > (1<<64-1-d)/uint64(base) {
			ok = false
		}
		u = u*uint64(base) + d
	}
	if i == start {
		return 0, 0, false, true
	}
	return u, i, neg, ok
}

// visible is the symbol's visibility (sym_calc_visibility): the best of its prompts'.
func (ev *evaluator) visible(name string) int {
	s := ev.r.Symbols[name]
	if s == nil {
		return 0
	}
	if s.Transitional {
		return 2
	}
	v := 0
	for _, d := range s.Defs {
		if d.Prompt != "" {
			v = max(v, ev.calc(and(and(d.Depends, d.PromptIf), d.VisibleIf), true))
		}
	}
	if v == 1 && (s.Type != "tristate" || ev.modules == 0) {
		v = 2
	}
	return v
}

// dirDep is the symbol's direct dependency: the dependencies of its definitions, or-ed. As in
// the kernel (expr_alloc_or), a definition without any adds nothing, so it is y only when no
// definition has one.
func (ev *evaluator) dirDep(s *Symbol) int {
	var e Expr
	for _, d := range s.Defs {
		if d.Depends != nil {
			if e == nil {
				e = d.Depends
			} else {
				e = &binExpr{op: "||", l: e, r: d.Depends}
			}
		}
	}
	return ev.boolUp(s.Name, ev.calc(e, true))
}

// reverse is what the selects (or implies) of a symbol force: each selecting symbol's value,
// limited by its entry's dependency and the select's condition.
func (ev *evaluator) reverse(s *Symbol, rs []Reverse) int {
	v := 0
	for _, rv := range rs {
		var dep Expr
		if rv.Def != nil {
			dep = rv.Def.Depends
		}
		v = max(v, min(ev.tri(rv.By), ev.calc(and(dep, rv.If), true)))
	}
	return ev.boolUp(s.Name, v)
}

// boolUp makes m y for a symbol that is a bool (or a tristate while MODULES is n).
func (ev *evaluator) boolUp(name string, v int) int {
	if v == 1 && ev.getType(name) == "bool" {
		return 2
	}
	return v
}

// defaultOf is the first default whose condition (with its entry's dependency) holds, and
// that condition's value.
func (ev *evaluator) defaultOf(s *Symbol) (*Default, int) {
	for i, d := range s.Defaults {
		var dep Expr
		if d.Def != nil {
			dep = d.Def.Depends
		}
		if v := ev.calc(and(dep, d.If), true); v != 0 {
			return &s.Defaults[i], v
		}
	}
	return nil, 0
}

// line is the symbol's computed .config line as conf_write writes it, "" for none.
func (ev *evaluator) line(name string) string {
	v, written := ev.value(name)
	switch {
	case !written:
		return ""
	case ev.r.Symbols[name].Type == "string":
		return configLine(name, escapeConfig(v))
	}
	return configLine(name, v)
}

// value is the symbol's computed value, and whether the kernel would write it (SYMBOL_WRITE).
func (ev *evaluator) value(name string) (string, bool) {
	s := ev.r.Symbols[name]
	vis := ev.visible(name)
	written := vis != 0
	var val string
	switch s.Type {
	case "bool", "tristate":
		if g := ev.choiceOf(s); g != nil {
			if ev.choose(g) == name {
				return "y", vis != 0
			}
			return "n", vis != 0
		}
		var dir, rev, implied int
		if s.Choice == 0 { // a choice member without a prompt keeps them n, as the kernel does
			dir, rev, implied = ev.dirDep(s), ev.reverse(s, s.SelectedBy), ev.reverse(s, s.ImpliedBy)
		}
		v := 0
		if u, ok := ev.user(name); ok && vis != 0 {
			v = min(tri(u), vis)
		} else {
			if rev != 0 {
				written = true
			}
			if d, cond := ev.defaultOf(s); d != nil {
				v = min(ev.calc(d.Value, false), cond)
				if v != 0 {
					written = true
				}
			}
			if implied != 0 {
				written = true
				v = min(max(v, implied), dir)
			}
		}
		v = ev.boolUp(name, max(v, rev))
		val = TriName(v)
	default: // int, hex, string
		if u, ok := ev.user(name); ok && vis != 0 {
			val = u
		} else {
			val = map[string]string{"int": "0", "hex": "0x0"}[s.Type]
			if d, _ := ev.defaultOf(s); d != nil {
				if ds, ok := d.Value.(*symExpr); ok {
					written = true
					if isTest(ds.name) {
						ev.wild = "default " + ds.name // the compiler's answer: the .config's is taken
					} else {
						val = ev.str(ds.name)
					}
				}
			}
		}
		val = ev.clamp(name, val)
	}
	return val, written && !s.Transitional
}

// clamp is sym_validate_range: an int or hex below its first applicable range becomes the low
// bound's value, above it the high bound's.
func (ev *evaluator) clamp(name, val string) string {
	s := ev.r.Symbols[name]
	base := map[string]int{"int": 10, "hex": 16}[s.Type]
	if base == 0 {
		return val
	}
	for _, rg := range s.Ranges {
		var dep Expr
		if rg.Def != nil {
			dep = rg.Def.Depends
		}
		if ev.calc(and(dep, rg.If), true) == 0 {
			continue
		}
		v, _, _ := strtoll(val, base)
		bound := rg.Lo
		if v >= ev.rangeVal(rg.Lo, base) {
			bound = rg.Hi
			if v <= ev.rangeVal(rg.Hi, base) {
				return val
			}
		}
		return ev.str(bound)
	}
	return val
}

func (ev *evaluator) rangeVal(name string, base int) int64 {
	switch ev.typeOf(name) {
	case "int":
		base = 10
	case "hex":
		base = 16
	}
	v, _, _ := strtoll(ev.str(name), base)
	return v
}

// choiceOf is the choice a member with a prompt belongs to (sym_get_choice_menu), or nil.
func (ev *evaluator) choiceOf(s *Symbol) *Choice {
	if s.Choice == 0 || !s.Visible() {
		return nil
	}
	return ev.r.Groups[s.Choice-1]
}

// choose is sym_calc_choice: the member that is y.
func (ev *evaluator) choose(g *Choice) string {
	// conf_read moves each member it reads to the front: the .config's last member first.
	prio := slices.Clone(g.Members)
	slices.SortStableFunc(prio, func(a, b string) int {
		pa, oka := ev.pos[a]
		pb, okb := ev.pos[b]
		switch {
		case oka && okb:
			return pb - pa
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	if ev.r.before(ChoiceRework) {
		// sym_calc_choice before the rework: the last member read y, if visible; else the default.
		for _, m := range prio {
			if u, ok := ev.user(m); ok && u == "y" {
				if ev.visible(m) != 0 {
					return m
				}
				break
			}
		}
		return ev.choiceDefault(g)
	}
	for _, m := range prio {
		if u, ok := ev.user(m); ok && u == "y" && ev.visible(m) != 0 {
			return m
		}
	}
	res := ev.choiceDefault(g)
	if u, ok := ev.user(res); res != "" && ok && u == "n" {
		res = ""
	}
	if res == "" {
		for _, m := range g.Members {
			if _, ok := ev.user(m); !ok && ev.visible(m) != 0 {
				return m
			}
		}
		for i := len(prio) - 1; i >= 0; i-- {
			if ev.visible(prio[i]) != 0 {
				return prio[i]
			}
		}
	}
	return res
}

// choiceDefault is sym_choice_default: the first default whose condition holds and whose member
// is visible, else the first visible member.
func (ev *evaluator) choiceDefault(g *Choice) string {
	for _, d := range g.Defaults {
		if ev.calc(and(g.Depends, d.If), true) == 0 {
			continue
		}
		if ds, ok := d.Value.(*symExpr); ok && ev.visible(ds.name) != 0 {
			return ds.name
		}
	}
	for _, m := range g.Members {
		if ev.visible(m) != 0 {
			return m
		}
	}
	return ""
}

// Replay
//
// Replay is the stronger check: it does not start from the .config olddefconfig wrote but from
// the one it read (the base and fragments merged), and computes the whole .config as
// olddefconfig does (conf_read, then conf_write): every symbol's value from the values computed
// for the symbols it refers to, the input's lines as the user's values, the choice members in
// the input's order. A visible symbol whose rules the reader got wrong can hide from Check,
// which gives it its own line back; here it gets what its rules compute. The only values not
// computed are the ones a toolchain test decides (a symbol whose own rules call $(cc-option,...)
// and the like): those are taken from the reference, the .config olddefconfig wrote, and are not
// compared. The rules agree when every other symbol's computed line is the reference's, and the
// reference has no line for a symbol no Kconfig file types.

// simValue is a symbol's value in Replay; busy while it is being computed, when a reference
// back to it reads the kernel's starting value, as sym_calc_value's does.
type simValue struct {
	val           string
	written, busy bool
}

// Replay computes what make olddefconfig writes for input and compares it with reference, the
// .config it wrote: see Replay above. Toolchain lists the symbols taken from the reference.
func (r *Rules) Replay(input, reference *Config) *CheckResult {
	ev := &evaluator{r: r, f: reference, in: input, pos: map[string]int{}, tests: map[string]int{}, missing: map[string]bool{},
		sim: map[string]*simValue{}, taken: map[string]bool{}}
	for i, s := range input.Settings() {
		ev.pos[s.Symbol] = i
	}
	// conf_read computes MODULES first; until then, modules read as n.
	if r.Modules != "" && ev.typeOf(r.Modules) != "" {
		v, _ := ev.simulate(r.Modules)
		ev.modules = tri(v)
		ev.sim, ev.taken = map[string]*simValue{}, map[string]bool{}
	}
	res := &CheckResult{Toolchain: map[string][]string{}}
	names := r.typedNames()
	for _, name := range names {
		ev.simulate(name)
	}
	if r.before(ChoiceRework) {
		ev.resetOutOfRange(names)
	}
	for _, name := range names {
		want := ""
		if s, ok := reference.Get(name); ok {
			want = configLine(name, s.Value)
			res.Written++
		}
		if ev.taken[name] {
			res.Toolchain[name] = nil
			continue
		}
		res.Checked++
		st := ev.sim[name]
		got := ""
		if st.written {
			got = ev.render(name, st.val)
		}
		if got != want {
			res.Findings = append(res.Findings, Finding{Symbol: name, Want: want, Got: got})
		}
	}
	for _, s := range reference.Settings() {
		if sym := r.Symbols[s.Symbol]; sym == nil || sym.Type == "" {
			res.Findings = append(res.Findings, Finding{Symbol: s.Symbol, Want: configLine(s.Symbol, s.Value), Got: ""})
		}
	}
	return res
}

// resetOutOfRange is conf_read before ChoiceRework: an int, hex or string whose user value is
// outside its range (as computed so far) loses it and is computed again, from its default; every
// other symbol keeps the value it was computed with, as conf_write writes it. The kernel checks
// the symbols in its hash table's order, and a range bound that was itself reset reads its new
// value; here they are checked in name order, against the bounds as first computed.
func (ev *evaluator) resetOutOfRange(names []string) {
	var reset []string
	for _, name := range names {
		s := ev.r.Symbols[name]
		if s.Type != "int" && s.Type != "hex" || ev.taken[name] {
			continue // a string has no range
		}
		if u, ok := ev.user(name); ok && ev.clamp(name, u) != u {
			reset = append(reset, name)
		}
	}
	if len(reset) == 0 {
		return
	}
	ev.dropped = map[string]bool{}
	for _, name := range reset {
		ev.dropped[name] = true
		delete(ev.sim, name)
	}
	for _, name := range reset {
		ev.simulate(name)
	}
}

// render is a computed value's .config line.
func (ev *evaluator) render(name, v string) string {
	if ev.r.Symbols[name].Type == "string" {
		return configLine(name, escapeConfig(v))
	}
	return configLine(name, v)
}

// simulate computes a symbol's value once (sym_calc_value with SYMBOL_VALID); a symbol whose
// rules meet a toolchain test takes the reference's line instead.
func (ev *evaluator) simulate(name string) (string, bool) {
	if st, ok := ev.sim[name]; ok {
		if st.busy {
			return ev.start(name), false
		}
		return st.val, st.written
	}
	st := &simValue{busy: true}
	ev.sim[name] = st
	missing, wild := ev.missing, ev.wild
	ev.missing, ev.wild = map[string]bool{}, ""
	val, written := ev.value(name)
	if len(ev.missing) > 0 || ev.wild != "" {
		ev.taken[name] = true
		val, written = ev.start(name), false
		if set, ok := ev.f.Get(name); ok {
			val, written = ev.lineValue(name, set.Value), true
		}
	}
	ev.missing, ev.wild = missing, wild
	st.val, st.written, st.busy = val, written, false
	return val, written
}

// start is the value sym_calc_value starts a symbol at.
func (ev *evaluator) start(name string) string {
	switch ev.typeOf(name) {
	case "bool", "tristate":
		return "n"
	case "int":
		return "0"
	case "hex":
		return "0x0"
	}
	return ""
}

// typedNames are the names of the symbols that have a type, sorted: those a .config holds.
func (r *Rules) typedNames() []string {
	names := make([]string, 0, len(r.Symbols))
	for name, s := range r.Symbols {
		if s.Type != "" {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}
