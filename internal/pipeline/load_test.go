package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Load's steps read the series and check the caps as pipeline.yaml loads: their errors name
// pipeline.yaml's line and key, and the series file's line, together with validation's.
func TestLoadReadsTheSeriesAndChecksTheCaps(t *testing.T) {
	dir := t.TempDir()
	smokeinit, _ := filepath.Abs("../../cmd/smokeinit")
	for name, body := range map[string]string{
		"pipeline.yaml": `name: test
series: "6.12"
upstream: {releases: /korg/releases.json, git: /korg/linux, keyring: /korg/keys.asc, max_unpacked: 100MiB}
version: {localversion: -microsoft-standard-WSL2, branch: "wsl-{series}.y", tag: "wsl-{version}"}
profiles:
  smoke:
    arches: [x86_64]
    config: {base: tinyconfig}
    patches: series
    initrd:
      spec: initrd.list
      programs: {SMOKE_INIT: ` + smokeinit + `}
`,
		"series":       "0001-a.patch\n# x\n0002-missing.patch\n",
		"0001-a.patch": "",
		"initrd.list":  "dir /dev 0755 0 0\n",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(filepath.Join(dir, "pipeline.yaml"))
	for _, want := range []string{
		"pipeline.yaml:9:14: profiles.smoke.patches: " + filepath.Join(dir, "series") + ":3: patch 0002-missing.patch does not exist",
		`pipeline.yaml:3:11: upstream.max_entry: 268435456 bytes ("", empty is the default) is more than max_unpacked's 104857600`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load() error =\n%v\nwant it to contain\n%s", err, want)
		}
	}
}
