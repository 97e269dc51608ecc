package kconfig

import (
	"cmp"
	"fmt"
	"strconv"
	"strings"
)

// Expr is a Kconfig expression: the condition of a "depends on", "if" or "select ... if".
type Expr interface {
	// Eval is the expression's tristate value (0 n, 1 m, 2 y) under the config's values.
	Eval(c *Config) int
	// Explain writes the expression with each symbol's value, as menuconfig's help shows it:
	// "PCI [=n] && NET [=y]".
	Explain(c *Config) string
}

type (
	symExpr struct{ name string } // a symbol or a constant (y, m, n, "string", 42)
	notExpr struct{ x Expr }
	binExpr struct {
		op   string // && ||
		l, r Expr
	}
	cmpExpr struct {
		op   string // = != < <= > >=
		l, r *symExpr
	}
)

func and(a, b Expr) Expr {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return &binExpr{op: "&&", l: a, r: b}
}

// Terms splits an expression at its top-level &&, so each unmet term can be named.
func Terms(e Expr) []Expr {
	if b, ok := e.(*binExpr); ok && b.op == "&&" {
		return append(Terms(b.l), Terms(b.r)...)
	}
	if e == nil {
		return nil
	}
	return []Expr{e}
}

func tri(v string) int {
	switch v {
	case "y":
		return 2
	case "m":
		return 1
	}
	return 0
}

// TriName is the name of a tristate value.
func TriName(v int) string { return [...]string{"n", "m", "y"}[v] }

// value is what the symbol or constant stands for under c.
func (s *symExpr) value(c *Config) (string, bool) {
	if isConst(s.name) {
		return strings.Trim(s.name, `"`), false
	}
	v := c.Value(s.name)
	return strings.Trim(v, `"`), true
}

func isConst(name string) bool {
	if name == "y" || name == "m" || name == "n" || strings.HasPrefix(name, `"`) || strings.HasPrefix(name, "$(") {
		return true
	}
	_, err := strconv.ParseInt(name, 0, 64)
	return err == nil
}

func (s *symExpr) Eval(c *Config) int {
	if strings.HasPrefix(s.name, "$(") {
		return 2 // a toolchain test Kconfig ran in make; the config holds its outcome elsewhere
	}
	v, _ := s.value(c)
	return tri(v)
}

func (s *symExpr) Explain(c *Config) string {
	if isConst(s.name) {
		return s.name
	}
	return fmt.Sprintf("%s [=%s]", s.name, c.Value(s.name))
}

func (n *notExpr) Eval(c *Config) int { return 2 - n.x.Eval(c) }
func (n *notExpr) Explain(c *Config) string {
	if _, ok := n.x.(*binExpr); ok {
		return "!(" + n.x.Explain(c) + ")"
	}
	return "!" + n.x.Explain(c)
}

func (b *binExpr) Eval(c *Config) int {
	l, r := b.l.Eval(c), b.r.Eval(c)
	if b.op == "&&" {
		return min(l, r)
	}
	return max(l, r)
}

func (b *binExpr) Explain(c *Config) string {
	side := func(e Expr) string {
		if inner, ok := e.(*binExpr); ok && inner.op != b.op {
			return "(" + e.Explain(c) + ")"
		}
		return e.Explain(c)
	}
	return side(b.l) + " " + b.op + " " + side(b.r)
}

func (e *cmpExpr) Eval(c *Config) int {
	l, _ := e.l.value(c)
	r, _ := e.r.value(c)
	var order int
	li, lerr := strconv.ParseInt(l, 0, 64)
	ri, rerr := strconv.ParseInt(r, 0, 64)
	if lerr == nil && rerr == nil {
		order = cmp.Compare(li, ri)
	} else {
		order = strings.Compare(l, r)
	}
	if holds(e.op, order) {
		return 2
	}
	return 0
}

func (e *cmpExpr) Explain(c *Config) string {
	return e.l.Explain(c) + " " + e.op + " " + e.r.Explain(c)
}

// ParseExpr parses a Kconfig expression: symbols, constants, ! && || ( ) and the comparisons.
func ParseExpr(s string) (Expr, error) {
	toks, err := tokenize(s)
	if err != nil {
		return nil, err
	}
	p := &exprParser{toks: toks}
	e, err := p.or()
	if err != nil {
		return nil, fmt.Errorf("expression %q: %w", s, err)
	}
	if p.i < len(p.toks) {
		return nil, fmt.Errorf("expression %q: unexpected %q", s, p.toks[p.i])
	}
	return e, nil
}

func tokenize(s string) ([]string, error) {
	var toks []string
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			i++
		case c == '"' || c == '\'':
			j := i + 1
			for j < len(s) && s[j] != c {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated string in %q", s)
			}
			toks = append(toks, `"`+s[i+1:j]+`"`)
			i = j + 1
		case c == '$' && i+1 < len(s) && s[i+1] == '(':
			depth, j := 0, i+1
			for ; j < len(s); j++ {
				if s[j] == '(' {
					depth++
				} else if s[j] == ')' {
					if depth--; depth == 0 {
						break
					}
				}
			}
			if j >= len(s) {
				return nil, fmt.Errorf("unterminated $( in %q", s)
			}
			toks = append(toks, s[i:j+1])
			i = j + 1
		case strings.HasPrefix(s[i:], "&&") || strings.HasPrefix(s[i:], "||") || strings.HasPrefix(s[i:], "!=") ||
			strings.HasPrefix(s[i:], "<=") || strings.HasPrefix(s[i:], ">="):
			toks = append(toks, s[i:i+2])
			i += 2
		case strings.ContainsRune("!()=<>", rune(c)):
			toks = append(toks, string(c))
			i++
		case isWord(c):
			j := i
			for j < len(s) && isWord(s[j]) {
				j++
			}
			toks = append(toks, s[i:j])
			i = j
		default:
			return nil, fmt.Errorf("unexpected %q in %q", c, s)
		}
	}
	return toks, nil
}

func isWord(c byte) bool {
	return c == '_' || c == '-' || c == '.' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

type exprParser struct {
	toks []string
	i    int
}

func (p *exprParser) peek() string {
	if p.i < len(p.toks) {
		return p.toks[p.i]
	}
	return ""
}

func (p *exprParser) or() (Expr, error) {
	l, err := p.and()
	for err == nil && p.peek() == "||" {
		p.i++
		var r Expr
		if r, err = p.and(); err == nil {
			l = &binExpr{op: "||", l: l, r: r}
		}
	}
	return l, err
}

func (p *exprParser) and() (Expr, error) {
	l, err := p.unary()
	for err == nil && p.peek() == "&&" {
		p.i++
		var r Expr
		if r, err = p.unary(); err == nil {
			l = &binExpr{op: "&&", l: l, r: r}
		}
	}
	return l, err
}

func (p *exprParser) unary() (Expr, error) {
	switch p.peek() {
	case "!":
		p.i++
		x, err := p.unary()
		if err != nil {
			return nil, err
		}
		return &notExpr{x: x}, nil
	case "(":
		p.i++
		x, err := p.or()
		if err != nil {
			return nil, err
		}
		if p.peek() != ")" {
			return nil, fmt.Errorf("missing )")
		}
		p.i++
		return x, nil
	}
	l, err := p.atom()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); op {
	case "=", "!=", "<", "<=", ">", ">=":
		p.i++
		r, err := p.atom()
		if err != nil {
			return nil, err
		}
		return &cmpExpr{op: op, l: l, r: r}, nil
	}
	return l, nil
}

func (p *exprParser) atom() (*symExpr, error) {
	t := p.peek()
	if t == "" || strings.ContainsAny(t[:1], "!()=<>&|") {
		if t == "" {
			return nil, fmt.Errorf("expression ends early")
		}
		return nil, fmt.Errorf("unexpected %q", t)
	}
	p.i++
	return &symExpr{name: t}, nil
}

// holds says whether a comparison whose operands compare as order (-1, 0, 1) holds under op.
func holds(op string, order int) bool {
	switch op {
	case "=":
		return order == 0
	case "!=":
		return order != 0
	case "<":
		return order < 0
	case "<=":
		return order <= 0
	case ">":
		return order > 0
	case ">=":
		return order >= 0
	}
	return false
}
