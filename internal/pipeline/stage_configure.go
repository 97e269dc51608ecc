package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/wslkernel/wslkernel/internal/atomicfile"
	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/kconfig"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/version"
)

// The configure stage makes an arch's .config: the base, the fragments in order, the local
// version from the version scheme last, then olddefconfig; every requested value must survive,
// and the policy must hold. Its product is the .config's SHA-256.

// configureDeclares: the base, every fragment's contents (in order), the local version, whether
// a dropped value fails, and the policy.
func configureDeclares(l *config.Line, arch string) (inputs, error) {
	cfg := l.Profile.Config
	in := inputs{"localversion": l.Pipeline.Version.LocalVersion, "strict": fmt.Sprint(cfg.IsStrict())}
	if base := cfg.BaseFor(arch); config.IsMakeTarget(base) {
		in["base"] = "make " + base
	} else {
		in["base "+l.Pipeline.Rel(base)] = fileKey(base)
	}
	if cfg.Policy != "" {
		in["policy "+l.Pipeline.Rel(cfg.Policy)] = fileKey(cfg.Policy)
	}
	for i, f := range cfg.FragmentsFor(arch) {
		in[fmt.Sprintf("fragment %d %s", i+1, l.Pipeline.Rel(f))] = fileKey(f) // order matters too
	}
	return in, nil
}

// configureDerives: the source tree and the compiler (Kconfig records its version in the .config).
// The source tree is the release's (a commit on its tag, or a tree named by its tarball), so the
// series the fragments are applied for is in the key too.
func configureDerives(ctx context.Context, r *run, ar *archRun) inputs {
	return inputs{"source": r.st.sourceID(), "compiler": r.toolchainID(ctx, ar.a)}
}

// configureIntact: the build tree's .config is the one it made.
func configureIntact(_ context.Context, _ *run, ar *archRun, rec manifest.Stage) bool {
	return fileKey(dotconfig(ar)) == rec.Product
}

// configureRestore reads back the .config configure made. When the stage is skipped, intact has
// found it as recorded; a command that takes up a run's record (package) may find the build tree
// removed, and needs no .config: it is then left unread.
func configureRestore(_ *run, ar *archRun, _ *manifest.Manifest, _ manifest.Stage) error {
	final, err := kconfig.ParseFile(dotconfig(ar))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	ar.final = final
	return err
}

func dotconfig(ar *archRun) string { return filepath.Join(ar.tree.Out, ".config") }

func configureBody(ctx context.Context, r *run, ar *archRun) (outcome, error) {
	tree := ar.tree
	if err := os.MkdirAll(tree.Out, 0o755); err != nil {
		return outcome{}, err
	}
	previous, _ := os.ReadFile(dotconfig(ar))
	prevInfo, _ := os.Stat(dotconfig(ar))
	requested, err := r.mergeFragments(ctx, ar)
	if err != nil {
		return outcome{}, err
	}
	if err := tree.Make(ctx, ar.log, "olddefconfig"); err != nil {
		return outcome{}, err
	}
	final, err := kconfig.ParseFile(dotconfig(ar))
	if err != nil {
		return outcome{}, err
	}
	ar.final = final
	detail, err := r.verifyConfig(ar, requested)
	if err != nil {
		return outcome{}, err
	}
	// An unchanged config keeps its old mtime, so make sees nothing new and rebuilds nothing.
	now, _ := os.ReadFile(dotconfig(ar))
	if prevInfo != nil && bytes.Equal(previous, now) {
		mt := prevInfo.ModTime()
		os.Chtimes(dotconfig(ar), mt, mt)
	}
	return outcome{detail: detail, product: fileKey(dotconfig(ar))}, nil
}

// mergeFragments writes the base merged with every fragment, as it applies to the release's
// series (its "# series:" lines), and the version scheme's local version as the .config
// (MergeConfig), warns of each override between fragments, and returns what they requested.
func (r *run) mergeFragments(ctx context.Context, ar *archRun) (*kconfig.Config, error) {
	requested, overrides, err := MergeConfig(ctx, r.plan.Line, r.plan.Release.Series(), ar.tree, ar.log)
	for _, o := range overrides {
		Say(r.opts.Out, "warning", fmt.Sprint(o))
	}
	return requested, err
}

// MergeConfig writes tree's .config as the configure stage has it before olddefconfig: the
// line's base for the arch (make's target, or a file), every fragment in order as it applies to
// series, then the version scheme's local version. The base as it was goes to .config.base,
// where kbuild config explain starts from. It returns what the fragments requested and their
// overrides of each other. Tests call it to configure a real tree the way the pipeline does.
func MergeConfig(ctx context.Context, l *config.Line, series version.Series, tree *kbuild.Tree, log io.Writer) (requested *kconfig.Config, overrides []kconfig.Override, err error) {
	cfg := l.Profile.Config
	path := filepath.Join(tree.Out, ".config")
	if base := cfg.BaseFor(tree.Arch.Name); config.IsMakeTarget(base) {
		if err := tree.Make(ctx, log, base); err != nil {
			return nil, nil, err
		}
	} else if err := atomicfile.Copy(base, path, 0o644); err != nil {
		return nil, nil, err
	}
	base, err := kconfig.ParseFile(path)
	if err != nil {
		return nil, nil, err
	}
	if err := atomicfile.Copy(path, path+".base", 0o644); err != nil {
		return nil, nil, err
	}
	fragments, err := seriesFragments(cfg.FragmentsFor(tree.Arch.Name), series)
	if err != nil {
		return nil, nil, err
	}
	merged, requested, overrides := kconfig.Merge(base, append(fragments, schemeFragment(l))...)
	var buf bytes.Buffer
	if _, err := merged.WriteTo(&buf); err != nil {
		return nil, nil, err
	}
	return requested, overrides, os.WriteFile(path, buf.Bytes(), 0o644)
}

// seriesFragments reads fragment files as they apply to series s.
func seriesFragments(paths []string, s version.Series) ([]*kconfig.Config, error) {
	var out []*kconfig.Config
	for _, f := range paths {
		frag, err := kconfig.ParseFragmentFile(f)
		if err != nil {
			return nil, err
		}
		out = append(out, frag.ForSeries(s))
	}
	return out, nil
}

// verifyConfig checks every requested value survived olddefconfig (a dropped one fails the stage,
// or warns with strict: false) and that the policy holds, each explained through Kconfig.
func (r *run) verifyConfig(ar *archRun, requested *kconfig.Config) (string, error) {
	l := r.plan.Line
	prof := l.Profile
	final := ar.final
	ex := &explainer{ar: ar}
	why := ex.why
	detail := fmt.Sprintf("%d settings, %d requested, all present", len(final.Settings()), len(requested.Settings()))
	if bad := kconfig.Verify(requested, final); len(bad) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "olddefconfig dropped %d requested settings:", len(bad))
		for _, m := range bad {
			b.WriteString("\n  " + m.String() + ex.undefined(l, m.Requested, r.plan.Release.Series()) + why(m.Requested.Symbol, m.Requested.Value))
		}
		if prof.Config.IsStrict() {
			return "", uncleanConfig{b.String()}
		}
		Say(r.opts.Out, "WARNING", b.String(), "(config.strict is false, so the build goes on)")
		detail = fmt.Sprintf("%d settings, %d requested, %d DROPPED (strict: false)", len(final.Settings()), len(requested.Settings()), len(bad))
	}
	bad, err := r.policyViolations(ar)
	if err != nil {
		return "", err
	}
	if len(bad) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "the final .config breaks %d rules of the WSL policy and the features' essential symbols, so WSL could not use this kernel as promised:", len(bad))
		for _, v := range bad {
			b.WriteString("\n  " + v.String() + why(v.Rule.Symbol, v.Rule.Allow[v.Arch][0]))
		}
		return "", uncleanConfig{b.String()}
	}
	if prof.Config.Policy != "" {
		detail += fmt.Sprintf(", policy %s holds", l.Pipeline.Rel(prof.Config.Policy))
	}
	if n := len(prof.Config.FeatureList()); n > 0 {
		detail += fmt.Sprintf(", the essential symbols of %d features are set", n)
	}
	return detail, nil
}

// policyViolations are the rules of the profile's policy and of its features' essential symbols
// that the arch's final .config breaks on the release's series.
func (r *run) policyViolations(ar *archRun) ([]kconfig.Violation, error) {
	cfg := r.plan.Line.Profile.Config
	series := r.plan.Release.Series()
	policies := cfg.FeaturePolicies(series)
	if cfg.Policy != "" {
		pol, err := kconfig.LoadPolicy(cfg.Policy)
		if err != nil {
			return nil, err
		}
		policies = append([]*kconfig.Policy{pol}, policies...)
	}
	var bad []kconfig.Violation
	for _, pol := range policies {
		bad = append(bad, pol.Check(ar.a.Name, series, ar.final)...)
	}
	return bad, nil
}

// uncleanConfig is the configure stage's failure when the final .config is not what the line
// asks for (a requested value dropped, a policy rule broken), as opposed to make or a file
// failing: kbuild port reports those per arch and goes on to the next.
type uncleanConfig struct{ text string }

func (u uncleanConfig) Error() string { return u.text }

// explainer says, from the tree's Kconfig files (read once, when first needed), why a symbol
// does not have the value asked for.
type explainer struct {
	ar    *archRun
	rules *kconfig.Rules
	err   error
}

// read reads the tree's Kconfig files for the arch, the first time only.
func (e *explainer) read() (*kconfig.Rules, error) {
	if e.rules == nil && e.err == nil {
		e.rules, e.err = kconfig.LoadRulesArch(e.ar.tree.Src, e.ar.a.Make, e.ar.a.SrcArch)
	}
	return e.rules, e.err
}

// why is what Kconfig says of sym, asked for as want, one indented line each.
func (e *explainer) why(sym, want string) string {
	rules, err := e.read()
	if err != nil {
		return "\n      (the Kconfig files could not be read to say why: " + err.Error() + ")"
	}
	return "\n      " + strings.Join(rules.Why(sym, want, e.ar.final), "\n      ")
}

// undefined says, for a requested setting whose symbol no Kconfig file of the tree (of series s)
// defines, which feature asked for it (when a feature's fragment did), that the symbol does not
// exist on s, and the "# series:" range that leaves s out; "" for a symbol the tree defines. Which
// way the range goes depends on the series that has the symbol, which one tree cannot tell:
// kbuild port, with the line's tree beside the new one, names it.
func (e *explainer) undefined(l *config.Line, set kconfig.Setting, s version.Series) string {
	rules, err := e.read()
	if err != nil || rules.Defines(set.Symbol) {
		return ""
	}
	who := featureOf(l, set.File)
	if who != "" {
		who += ": "
	}
	// The line's own range, ended before s or started after it, where either is left.
	var ranges []string
	if r := set.Series; r.From == (version.Series{}) || r.From.Compare(s) < 0 {
		if s.Minor == 0 { // the series before X.0 only kernel.org's history names
			ranges = append(ranges, "one that ends at the series before "+s.String()+" if the symbol went")
		} else {
			r.To = version.Series{Major: s.Major, Minor: s.Minor - 1}
			ranges = append(ranges, fmt.Sprintf("%q if the symbol went", r))
		}
	}
	if r := set.Series; r.To == (version.Series{}) || r.To.Compare(s) > 0 {
		r.From = version.Series{Major: s.Major, Minor: s.Minor + 1}
		ranges = append(ranges, fmt.Sprintf("%q if it came later", r))
	}
	if len(ranges) == 0 {
		return fmt.Sprintf("\n      %s%s does not exist on %s (no Kconfig file of this tree defines it for %s), the one series line %d of %s is for: drop the line, or correct the name",
			who, set.Symbol, s, e.ar.a.Name, set.Line, l.Pipeline.Rel(set.File))
	}
	return fmt.Sprintf("\n      %s%s does not exist on %s (no Kconfig file of this tree defines it for %s): give line %d of %s a \"# series:\" range without %s, %s (kbuild port --series %s, from the line on another series, says which)",
		who, set.Symbol, s, e.ar.a.Name, set.Line, l.Pipeline.Rel(set.File), s, strings.Join(ranges, ", "), s)
}

// rehearseConfigure hands the configure stage's make commands to the Runner (kbuild plan).
func rehearseConfigure(ctx context.Context, r *run, ar *archRun) error {
	if base := r.plan.Line.Profile.Config.BaseFor(ar.a.Name); config.IsMakeTarget(base) {
		if err := ar.tree.Make(ctx, ar.log, base); err != nil {
			return err
		}
	}
	return ar.tree.Make(ctx, ar.log, "olddefconfig")
}

// baseName is the arch's config base as people write it: a make target, or a file relative to
// pipeline.yaml.
func baseName(l *config.Line, arch string) string {
	base := l.Profile.Config.BaseFor(arch)
	if config.IsMakeTarget(base) {
		return base
	}
	return l.Pipeline.Rel(base)
}

// schemeFragment is what the version scheme asks of every config: the local version, last.
func schemeFragment(l *config.Line) *kconfig.Config {
	scheme := &kconfig.Config{}
	scheme.Set(kconfig.Setting{Symbol: "LOCALVERSION", Value: fmt.Sprintf("%q", l.Pipeline.Version.LocalVersion),
		File: l.Pipeline.File, Line: l.Pipeline.Pos("version.localversion").Line})
	return scheme
}

func describeConfigure(p *Plan, a kbuild.Arch) string {
	l := p.Line
	prof := l.Profile
	verify := "verify"
	if !prof.Config.IsStrict() {
		verify = "verify (warnings only: strict is false)"
	}
	if prof.Config.Policy != "" {
		verify += ", check the policy " + l.Pipeline.Rel(prof.Config.Policy)
	}
	var frags []string
	for _, f := range prof.Config.FragmentsFor(a.Name) {
		frags = append(frags, l.Pipeline.Rel(f))
	}
	return fmt.Sprintf("base %s + %s (their lines for %s), CONFIG_LOCALVERSION=%q, olddefconfig, %s",
		baseName(l, a.Name), strings.Join(frags, " + "), p.Release.Series(), l.Pipeline.Version.LocalVersion, verify)
}
