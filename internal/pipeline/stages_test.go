package pipeline

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// The table holds what it promises, and each way of breaking it is caught by name.
func TestTheStageTableHolds(t *testing.T) {
	if err := checkTable(stages); err != nil {
		t.Fatalf("the stage table: %v", err)
	}
	body := func(s *stage) *stage { s.body = fetchBody; return s }
	for _, c := range []struct {
		rows []*stage
		want string
	}{
		{[]*stage{body(&stage{name: "a"}), body(&stage{name: "b", after: []string{"c"}})}, `row 2 (b): after "c", which is no earlier row`},
		{[]*stage{body(&stage{name: "a", after: []string{"b"}}), body(&stage{name: "b"})}, `row 1 (a): after "b", which is no earlier row`},
		{[]*stage{body(&stage{name: "a"}), body(&stage{name: "a"})}, `row 2 (a): the name is empty or taken`},
		{[]*stage{{name: "a"}}, `row 1 (a): no body`},
		{[]*stage{body(&stage{name: "a", in: inPlan})}, `row 1 (a): kbuild plan walks it, and it has no describe`},
		{[]*stage{body(&stage{name: "a", outputs: []string{"x"}}), body(&stage{name: "b", outputs: []string{"x"}})}, `row 2 (b): output "x" is made by a too`},
	} {
		if err := checkTable(c.rows); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkTable = %v, want %q", err, c.want)
		}
	}
}

// Stage and output names are constants, and each names a row or a row's output: the package's
// code reads no output and no stage key by a string of its own.
func TestStageAndOutputNamesAreTheTables(t *testing.T) {
	fset := token.NewFileSet()
	files, _ := filepath.Glob("*.go")
	consts := map[string]string{}
	var parsed []*ast.File
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		parsed = append(parsed, f)
		for _, d := range f.Decls {
			if g, ok := d.(*ast.GenDecl); ok && g.Tok == token.CONST {
				for _, spec := range g.Specs {
					v := spec.(*ast.ValueSpec)
					for i, n := range v.Names {
						if i < len(v.Values) {
							if lit, ok := v.Values[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
								consts[n.Name], _ = strconv.Unquote(lit.Value)
							}
						}
					}
				}
			}
		}
	}
	outputs := map[string]bool{}
	for _, s := range stages {
		for _, o := range s.outputs {
			outputs[o] = true
		}
	}
	for name, value := range consts {
		switch {
		case strings.HasPrefix(name, "out") && len(name) > 3 && name[3] >= 'A' && name[3] <= 'Z':
			if !outputs[value] {
				t.Errorf("%s = %q is no row's output", name, value)
			}
		case strings.HasPrefix(name, "st") && len(name) > 2 && name[2] >= 'A' && name[2] <= 'Z':
			if !slices.ContainsFunc(stages, func(s *stage) bool { return s.name == value }) {
				t.Errorf("%s = %q is no row of the table", name, value)
			}
		}
	}
	// Where a name is passed, it is a constant.
	named := map[string]int{"outputKey": 0, "output": 0, "prevOutputs": 2, "stageRecord": 1, "stageNamed": 0}
	for _, f := range parsed {
		ast.Inspect(f, func(n ast.Node) bool {
			switch n := n.(type) {
			case *ast.CallExpr:
				var fn string
				switch f := n.Fun.(type) {
				case *ast.Ident:
					fn = f.Name
				case *ast.SelectorExpr:
					fn = f.Sel.Name
				}
				if i, ok := named[fn]; ok && i < len(n.Args) {
					if lit := literal(n.Args[i]); lit != "" {
						t.Errorf("%s: %s(%s): a name of the table written as a string", fset.Position(n.Pos()), fn, lit)
					}
				}
			case *ast.IndexExpr:
				if sel, ok := n.X.(*ast.SelectorExpr); ok && sel.Sel.Name == "keys" {
					if lit := literal(n.Index); lit != "" {
						t.Errorf("%s: keys[%s]: a stage's key read by a string", fset.Position(n.Pos()), lit)
					}
				}
			}
			return true
		})
	}
}

// literal is the string literal an argument holds, directly or in a []string{...}; "" if none.
func literal(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.BasicLit:
		if e.Kind == token.STRING {
			return e.Value
		}
	case *ast.CompositeLit:
		for _, el := range e.Elts {
			if lit := literal(el); lit != "" {
				return lit
			}
		}
	}
	return ""
}
