package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/payload"
	"github.com/wslkernel/wslkernel/internal/version"
)

// Package makes the Windows payloads from the last run's outputs (kbuild package), records them
// in that run's manifest and returns them. supersedes names the version they replace; empty: the
// newest earlier version built in this work dir, if any.
func Package(ctx context.Context, p *Plan, opts Options, supersedes string) ([]manifest.File, error) {
	m, unlock, err := onLastRun(p, &opts, "package")
	defer unlock()
	if err != nil {
		return nil, err
	}
	// This stage replaces the run's: its payloads and its record.
	m.Stages = slices.DeleteFunc(m.Stages, func(st manifest.Stage) bool { return st.Name == "package" })
	r := &run{plan: p, opts: opts, m: m}
	// Recorded with its inputs, as a run's package stage is, so a later run skips it when nothing
	// changed since.
	c := r.packageCache()
	if supersedes != "" && c.inputs != nil {
		c.inputs["supersedes"] = supersedes
	}
	var files []manifest.File
	err = r.keyedStage("package", "", c.inputs, noProduct(func() (string, error) {
		var detail string
		files, detail, err = r.makePayloads(ctx, supersedes)
		return detail, err
	}))
	if werr := m.Write(filepath.Join(p.OutDir, "manifest.json")); err == nil {
		err = werr
	}
	return files, err
}

// makePayloads runs the payload package on the run's outputs and records the payloads.
func (r *run) makePayloads(ctx context.Context, supersedes string) ([]manifest.File, string, error) {
	l := r.plan.Line
	pk := l.Profile.Package
	if supersedes == "" {
		supersedes = previousVersion(filepath.Dir(r.plan.OutDir), r.plan.Version)
	}
	o := payload.Options{OutDir: r.plan.OutDir, Manifest: r.m, Formats: pk.Formats, Product: pk.Product,
		Manufacturer: l.Pipeline.Name, NugetID: pk.NugetID, MinWindowsBuild: pk.MinWindowsBuild, Supersedes: supersedes,
		RepoURL: l.Pipeline.Publish.Remote, OpenPGPKey: pk.OpenPGPKey, Runner: r.opts.Runner}
	signer, err := signerFor(pk.Signing)
	if err != nil {
		return nil, "", err
	}
	o.Signer = signer
	files, err := payload.Make(ctx, o)
	if err != nil {
		return nil, "", err
	}
	kept := r.m.Outputs[:0]
	for _, f := range r.m.Outputs {
		if f.Name != "payload" {
			kept = append(kept, f)
		}
	}
	r.m.Outputs = append(kept, files...)
	trust := "UNSIGNED (no package.signing)"
	if signer != nil {
		trust = "signed"
		if signer.Subject != "" {
			trust += " by " + signer.Subject
		}
	}
	var names []string
	for _, f := range files {
		names = append(names, filepath.Base(f.Path))
	}
	detail := fmt.Sprintf("%s, %s, in %s", strings.Join(names, ", "), trust, filepath.Join(r.plan.OutDir, payload.Dir))
	if supersedes != "" {
		detail += ", superseding " + supersedes
	}
	return files, detail, nil
}

// packageCache: every artifact packaged (by SHA-256), the package settings, the version the
// payloads supersede, and the signer's files or command (a new certificate re-signs).
func (r *run) packageCache() cached {
	l := r.plan.Line
	pk := l.Profile.Package
	signer, err := signerFor(pk.Signing)
	if err != nil {
		return cached{} // no inputs: the stage runs and reports it
	}
	in := inputs{"formats": strings.Join(pk.Formats, ","), "product": pk.Product, "nuget_id": pk.NugetID,
		"min_windows_build": fmt.Sprint(pk.MinWindowsBuild), "repo": l.Pipeline.Publish.Remote, "line": l.Pipeline.Name,
		"supersedes": previousVersion(filepath.Dir(r.plan.OutDir), r.plan.Version)}
	for name, sha := range r.outputKeys() {
		in[name] = sha
	}
	if pk.OpenPGPKey != "" {
		in["openpgp_key"] = fileKey(pk.OpenPGPKey)
	}
	if signer != nil {
		in["signer command"] = strings.Join(signer.Command, " ")
		for name, f := range map[string]string{"pkcs12": signer.PKCS12, "cert": signer.Cert, "key": signer.Key} {
			if f != "" {
				in["signer "+name] = fileKey(f)
			}
		}
	}
	return cached{inputs: in, outputs: []string{"payload"}}
}

// signerFor is the profile's signer, with the environment's files taking precedence; nil when
// signing is off.
func signerFor(sg *config.Signing) (*payload.Signer, error) {
	env := func(name, def string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return def
	}
	var s payload.Signer
	if sg != nil {
		s = payload.Signer{PKCS12: sg.PKCS12, Cert: sg.Cert, Key: sg.Key, Command: sg.Command}
	}
	s.PKCS12 = env("WSLKERNEL_SIGN_PKCS12", s.PKCS12)
	s.Cert = env("WSLKERNEL_SIGN_CERT", s.Cert)
	s.Key = env("WSLKERNEL_SIGN_KEY", s.Key)
	if s.PKCS12 == "" && s.Cert == "" && s.Key == "" && len(s.Command) == 0 {
		return nil, nil
	}
	passEnv := "WSLKERNEL_SIGN_PASSWORD"
	if sg != nil && sg.PasswordEnv != "" {
		passEnv = sg.PasswordEnv
	}
	s.Password = os.Getenv(passEnv)
	return &s, nil
}

// previousVersion is the newest version below current with a successful build under profileOut
// (out/<profile>), or "".
func previousVersion(profileOut string, current version.Version) string {
	if m, _ := manifest.Previous(profileOut, current); m != nil {
		return m.Version
	}
	return ""
}
