package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/kbuild"
	"github.com/wslkernel/wslkernel/internal/manifest"
	"github.com/wslkernel/wslkernel/internal/payload"
	"github.com/wslkernel/wslkernel/internal/version"
)

// The package stage makes the Windows payloads of every arch from the run's outputs. It applies
// when the profile names package formats and the run has every arch (a run of fewer, one CI job
// per arch, leaves it to kbuild assemble).

func packages(r *run, _ *archRun) (bool, string) {
	l := r.plan.Line
	if len(l.Profile.Package.Formats) == 0 || (r.mode == inVerify && !r.opts.Payloads) {
		return false, ""
	}
	if len(r.built) < len(r.arches) && r.mode == inRun {
		var built []string
		for _, ar := range r.built {
			built = append(built, ar.a.Name)
		}
		return false, fmt.Sprintf("not made here: this run built %s of %s; kbuild assemble gathers the arches' runs and packages them",
			strings.Join(built, ", "), strings.Join(l.Profile.Arches, ", "))
	}
	return true, ""
}

// packageDeclares: the package settings: what the payloads are; with an MSI, the source of its
// custom action (the Go files it is built from: a change elsewhere in the module is no new
// release).
func packageDeclares(l *config.Line, _ string) (inputs, error) {
	pk := l.Profile.Package
	in := inputs{"formats": strings.Join(pk.Formats, ","), "product": pk.Product, "nuget_id": pk.NugetID,
		"min_windows_build": fmt.Sprint(pk.MinWindowsBuild), "line": l.Pipeline.Name, "nuget_revision": fmt.Sprint(pk.NugetRevision)}
	if slices.Contains(pk.Formats, "msi") {
		in["msi action"] = goProgramKey(msiAction(l), "windows", "amd64")
	}
	if artifactsDisk(l) { // the flat layout, the default, keeps the keys it had
		in["modules_disk"] = config.ModulesDiskArtifacts
	}
	return in, nil
}

// msiAction is the folder of the MSI's custom action: cmd/wslconfig-action beside pipeline.yaml,
// as the initrd's programs are found (the pipeline's folder is the module's).
func msiAction(l *config.Line) string {
	return filepath.Join(l.Pipeline.Dir(), "cmd", "wslconfig-action")
}

// packageDerives: every artifact packaged (by SHA-256), the version the payloads supersede, the
// publish remote, and the signer's files or command (a new certificate re-signs), which the
// machine's environment may name: not the release's inputs.
func packageDerives(ctx context.Context, r *run, _ *archRun) inputs {
	in := r.outputKeys()
	in["supersedes"] = r.plan.Supersedes
	if slices.Contains(r.plan.Line.Profile.Package.Formats, "msi") {
		in["go"] = r.goVersion(ctx) // builds the MSI's custom action
	}
	// Where the release is published (named in the nuspec and update.json) and how it is signed:
	// they change the payloads' bytes, not what the release is made of, so they key the stage and
	// stay out of the release's inputs digest (a run and a later check may be pointed at another
	// remote, or sign elsewhere).
	pk := r.plan.Line.Profile.Package
	in["repo"] = r.plan.Line.Pipeline.Publish.Remote
	if pk.OpenPGPKey != "" {
		in["openpgp_key"] = fileKey(pk.OpenPGPKey)
	}
	if signer := r.plan.Signer; signer != nil {
		if signer.TimestampURL != "" {
			in["timestamp_url"] = signer.TimestampURL
		}
		in["signer command"] = strings.Join(signer.Command, " ")
		for name, f := range map[string]string{"pkcs12": signer.PKCS12, "cert": signer.Cert, "key": signer.Key} {
			if f != "" {
				in["signer "+name] = fileKey(f)
			}
		}
	}
	return in
}

func packageBody(ctx context.Context, r *run, _ *archRun) (outcome, error) {
	l := r.plan.Line
	pk := l.Profile.Package
	supersedes := r.plan.Supersedes
	rel, builds := r.packaged()
	o := payload.Options{OutDir: r.plan.OutDir, Release: rel, Builds: builds, Formats: pk.Formats, Product: pk.Product,
		Manufacturer: l.Pipeline.Name, NugetID: pk.NugetID, NugetRevision: pk.NugetRevision, MinWindowsBuild: pk.MinWindowsBuild, Supersedes: supersedes,
		RepoURL: l.Pipeline.Publish.Remote, OpenPGPKey: pk.OpenPGPKey, ActionSource: msiAction(l), Runner: r.opts.Runner,
		ModulesDisk: pk.ModulesDiskLayout()}
	var signer *payload.Signer
	if r.plan.Signer != nil {
		s := *r.plan.Signer // signing reads the certificate's subject into it
		signer = &s
	}
	o.Signer = signer
	files, err := payload.Make(ctx, o)
	if err != nil {
		return outcome{}, err
	}
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
	return outcome{detail: detail, outputs: files}, nil
}

// packaged is what the payloads are made of, from the run's state, never from its manifest: the
// plan's version and release, what fetch found, the branch's head, and every built arch's
// outputs (the build's kernel, the modules stage's disks) as the run recorded them.
func (r *run) packaged() (payload.Release, []payload.Build) {
	p := r.plan
	r.mu.Lock()
	defer r.mu.Unlock()
	up := r.st.upstream
	rel := payload.Release{Line: p.Line.Pipeline.Name, Version: p.Version.String(), KernelRelease: p.KernelRelease,
		Tag: p.Release.Tag(), Commit: up.Commit, Signer: up.Signer, CommitTime: up.CommitTime,
		Branch: p.Branch, BranchHead: r.st.branchHead}
	var builds []payload.Build
	for _, ar := range r.arches {
		if ar.build == nil {
			continue
		}
		b := payload.Build{Arch: ar.a.Name}
		// artifacts.vhd goes along when the modules stage made one; the layout (package.modules_disk)
		// decides which disk the payloads carry.
		outs := map[string]*payload.File{outKernel: &b.Kernel, outModules: &b.ModulesVHDX, outModulesVHD: &b.ModulesVHD, outArtifacts: &b.Artifacts}
		for name, to := range outs {
			if i := slices.IndexFunc(r.st.outputs, func(f manifest.File) bool { return f.Name == name && f.Arch == ar.a.Name }); i >= 0 {
				*to = payload.File{Path: filepath.Join(p.OutDir, r.st.outputs[i].Path), SHA256: r.st.outputs[i].SHA256}
			}
		}
		builds = append(builds, b)
	}
	return rel, builds
}

func describePackage(p *Plan, _ kbuild.Arch) string {
	pk := p.Line.Profile.Package
	if len(pk.Formats) == 0 {
		return ""
	}
	what := fmt.Sprintf("%s, update.json, SHA256SUMS; %s; %s", strings.Join(pk.Formats, ", "), describeModulesDisk(p), describeSigner(p.Signer))
	if p.Supersedes != "" {
		what += "; superseding " + p.Supersedes
	}
	return what
}

// describeModulesDisk says which modules disk the payloads carry, and where the setting is.
func describeModulesDisk(p *Plan) string {
	profile := p.Line.Name
	if p.Line.Base != "" { // kbuild custom's line: the setting is its base profile's
		profile = p.Line.Base
	}
	where := "package.modules_disk unset: the default"
	if pos := p.Line.Pipeline.Pos("profiles." + profile + ".package.modules_disk"); pos.Line > 0 {
		where = fmt.Sprintf("package.modules_disk at %s:%d", p.Line.Pipeline.File, pos.Line)
	}
	if artifactsDisk(p.Line) {
		return fmt.Sprintf("modules disk artifacts.vhd (%s/modules and linux-headers, the layout of WSL's branch for 6.18.40.1; %s)",
			p.KernelRelease, strings.TrimSuffix(where, ": the default"))
	}
	return fmt.Sprintf("flat modules disk (modules.vhdx, modules.vhd in the NuGet package; %s)", where)
}

// describeSigner says how the payloads are signed, naming the files or command (never the
// password) the profile and the environment chose.
func describeSigner(s *payload.Signer) string {
	var by string
	switch {
	case s == nil:
		return "unsigned (no package.signing, and no WSLKERNEL_SIGN_* in the environment)"
	case s.Incomplete() != "":
		return "NOT SIGNABLE, the package stage will stop: " + s.Incomplete()
	case len(s.Command) > 0:
		by = "by the command " + strings.Join(s.Command, " ")
	case s.PKCS12 != "":
		by = "with " + s.PKCS12
	default:
		by = "with " + s.Cert + " and " + s.Key
	}
	if s.TimestampURL != "" && len(s.Command) == 0 {
		by += ", timestamped by " + s.TimestampURL
	}
	return "Authenticode-signed " + by
}

// signerFor is the profile's signer, with the environment's files and time-stamping authority
// taking precedence; nil when signing is off. Nothing is read or checked here: plan shows a
// half-set signer, and only the package stage refuses it (payload.Signer.Check), so a bad
// WSLKERNEL_SIGN_* on a machine does not stop a plan, a status, a build or a boot.
func signerFor(sg *config.Signing) *payload.Signer {
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
		return nil
	}
	passEnv := "WSLKERNEL_SIGN_PASSWORD"
	if sg != nil && sg.PasswordEnv != "" {
		passEnv = sg.PasswordEnv
	}
	s.Password = os.Getenv(passEnv)
	if sg != nil {
		s.TimestampURL = sg.TimestampURL
	}
	s.TimestampURL = env("WSLKERNEL_SIGN_TSA", s.TimestampURL)
	return &s
}

// previousVersion is the newest version below current with a successful build under profileOut
// (out/<profile>), or "".
func previousVersion(profileOut string, current version.Version) string {
	if m, _ := manifest.Previous(profileOut, current); m != nil {
		return m.Version
	}
	return ""
}
