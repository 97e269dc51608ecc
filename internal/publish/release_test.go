package publish

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wslkernel/wslkernel/internal/config"
	"github.com/wslkernel/wslkernel/internal/manifest"
)

func writeRun(t *testing.T, status string) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	os.MkdirAll(filepath.Join(dir, "x86_64"), 0o755)
	os.MkdirAll(filepath.Join(dir, "packages"), 0o755)
	os.WriteFile(filepath.Join(dir, "packages/SHA256SUMS"), []byte("sums\n"), 0o644)
	os.MkdirAll(filepath.Join(dir, "x86_64/headers/include"), 0o755)
	m := &manifest.Manifest{Schema: manifest.Schema, Status: status, Version: "6.12.118.1", Tag: "wsl-6.12.118.1", Branch: "wsl-6.12.y"}
	for _, f := range []struct{ name, arch, path, body string }{
		{"kernel", "x86_64", "x86_64/kernel", "bzImage"},
		{"config", "x86_64", "x86_64/config", "CONFIG_A=y\n"},
		{"config", "arm64", "x86_64/config-arm64", "CONFIG_B=y\n"},
		{"payload", "", "packages/wsl-kernel-6.12.118.1-x64.cab", "MSCF"},
	} {
		full := filepath.Join(dir, f.path)
		os.WriteFile(full, []byte(f.body), 0o644)
		d, err := manifest.Describe(f.name, f.arch, full)
		if err != nil {
			t.Fatal(err)
		}
		d.Path = f.path
		m.Outputs = append(m.Outputs, d)
	}
	m.Outputs = append(m.Outputs, manifest.File{Name: "headers", Arch: "x86_64", Path: "x86_64/headers"})
	path = filepath.Join(dir, "manifest.json")
	if err := m.Write(path); err != nil {
		t.Fatal(err)
	}
	return dir, path
}

func TestFromManifest(t *testing.T) {
	_, path := writeRun(t, "ok")
	r, err := FromManifest(path, config.Publish{Repo: "o/r"})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, a := range r.Assets {
		names = append(names, a.Name)
	}
	if got := strings.Join(names, " "); got != "kernel-x86_64 config-wsl config-wsl-arm64 wsl-kernel-6.12.118.1-x64.cab SHA256SUMS manifest.json" {
		t.Errorf("assets = %s", got)
	}
	var out bytes.Buffer
	r.PrintDryRun(&out)
	if !strings.Contains(out.String(), "release  \"WSL2-Linux-Kernel 6.12.118.1\" for tag wsl-6.12.118.1 on o/r") {
		t.Errorf("dry run:\n%s", out.String())
	}
}

func TestFromManifestRefuses(t *testing.T) {
	_, failed := writeRun(t, "failed")
	if _, err := FromManifest(failed, config.Publish{}); err == nil || !strings.Contains(err.Error(), "the run failed") {
		t.Errorf("FromManifest(failed run) = %v", err)
	}
	dir, path := writeRun(t, "ok")
	os.WriteFile(filepath.Join(dir, "x86_64/kernel"), []byte("tampered"), 0o644)
	if _, err := FromManifest(path, config.Publish{}); err == nil || !strings.Contains(err.Error(), "output x86_64/kernel changed since the build") {
		t.Errorf("FromManifest(tampered) = %v", err)
	}
}
