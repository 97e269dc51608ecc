package conformance

import (
	"context"
	"errors"
	"fmt"
	"github.com/wslkernel/wslkernel/internal/runner"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadPackageList(t *testing.T) {
	tests := []struct {
		name, list string
		want       []Package
		wantErr    string
	}{
		{"comments and blanks", "# head\n\nsystemd\ndocker.io  # the daemon\n  g++-12\n", []Package{{"systemd", 3}, {"docker.io", 4}, {"g++-12", 5}}, ""},
		{"two on a line", "systemd\nfuse3 bindfs\n", nil, ":2: \"fuse3 bindfs\" is not one Debian package name"},
		{"not a name", "systemd\nDocker\n", nil, ":2: \"Docker\""},
		{"empty", "# nothing\n", nil, "names no package"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "packages.list")
			writeFile(t, path, tt.list)
			got, err := ReadPackageList(path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrPackageList) {
					t.Fatalf("ReadPackageList(%q) = %v, want an ErrPackageList containing %q", tt.list, err, tt.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("ReadPackageList(%q) = %v, %v; want %v", tt.list, got, err, tt.want)
			}
		})
	}
}

func TestExplainMmdebstrap(t *testing.T) {
	pkgs := []Package{{"systemd", 3}, {"dockr.io", 7}}
	tests := []struct {
		name, out, want string
	}{
		{"apt-get install", "E: Unable to locate package dockr.io\nE: mmdebstrap failed", "packages.list:7: apt cannot find package \"dockr.io\""},
		{"no candidate", "E: Package 'dockr.io' has no installation candidate\n", "packages.list:7: apt cannot find package \"dockr.io\""},
		{"something else", "E: failed to download\nW: disk full\n", "mmdebstrap (the conformance userland from packages.list): exit status 1\n  E: failed to download\n  W: disk full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := explainMmdebstrap("packages.list", pkgs, []byte(tt.out), errors.New("exit status 1"))
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("explainMmdebstrap(%q) = %v, want it to contain %q", tt.out, err, tt.want)
			}
		})
	}
}

// The cache key follows the list, each guest file's content and mode, and nothing else.
func TestUserlandKey(t *testing.T) {
	dir := t.TempDir()
	u := Userland{PackageList: filepath.Join(dir, "packages.list"), GuestDir: filepath.Join(dir, "guest"), CacheDir: dir}
	writeFile(t, u.PackageList, "systemd\n")
	writeFile(t, filepath.Join(u.GuestDir, "usr/local/sbin/probe"), "#!/bin/sh\n")
	key := func() string {
		k, err := u.Key()
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	seen := map[string]string{key(): "first"}
	changes := []struct {
		name   string
		change func()
	}{
		{"list", func() { writeFile(t, u.PackageList, "systemd\njq\n") }},
		{"guest content", func() { writeFile(t, filepath.Join(u.GuestDir, "usr/local/sbin/probe"), "#!/bin/bash\n") }},
		{"guest mode", func() { os.Chmod(filepath.Join(u.GuestDir, "usr/local/sbin/probe"), 0o755) }},
		{"guest new file", func() { writeFile(t, filepath.Join(u.GuestDir, "etc/hostname"), "x\n") }},
	}
	for _, c := range changes {
		c.change()
		k := key()
		if prev, ok := seen[k]; ok {
			t.Errorf("after a change of %s the key is the one of %s", c.name, prev)
		}
		seen[k] = c.name
	}
	if k1, k2 := key(), key(); k1 != k2 {
		t.Errorf("Key() is not stable: %s then %s", k1, k2)
	}
}

func TestMachineSources(t *testing.T) {
	root := t.TempDir()
	writeFile(t, filepath.Join(root, "etc/apt/sources.list"), "")
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/debian.sources"), "Types: deb\n")
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/extra.list"), "deb x y\n")
	writeFile(t, filepath.Join(root, "etc/apt/sources.list.d/old.list.disabled"), "deb x y\n")
	got := MachineSources(root)
	want := []string{filepath.Join(root, "etc/apt/sources.list.d/debian.sources"), filepath.Join(root, "etc/apt/sources.list.d/extra.list")}
	if !slices.Equal(got, want) {
		t.Fatalf("MachineSources = %v, want %v (an empty sources.list and disabled files left out)", got, want)
	}
}

func probeLine(feature, name, status, output string) string {
	return fmt.Sprintf(`{"type":"probe","feature":%q,"probe":%q,"status":%q,"seconds":1.5,"output":%q}`, feature, name, status, output)
}

func TestParseAndCheckResults(t *testing.T) {
	start := `{"type":"start","release":"6.12.117.1-microsoft-standard-WSL2"}`
	boot := `{"type":"boot","init_us":2500000,"multi_user_us":31000000}`
	done := `{"type":"done"}`
	tests := []struct {
		name    string
		lines   []string
		release string
		wantErr string // "" for success
		probes  int
	}{
		{"all pass", []string{start, boot, probeLine("fuse", "bindfs", "pass", "ok"), probeLine("tc", "netem", "pass", ""), done}, "6.12.117.1-microsoft-standard-WSL2", "", 2},
		{"a probe fails", []string{start, boot, probeLine("fuse", "bindfs", "pass", ""), probeLine("docker-nft", "published-port", "fail", "iptables v1.8.9 (nf_tables): Could not fetch rule set generation id"), done}, "",
			"feature docker-nft, probe published-port: fail after 1.5s; its output:\n  iptables v1.8.9 (nf_tables): Could not fetch rule set generation id", 2},
		{"a probe hangs", []string{start, boot, probeLine("usbip", "vhci-hcd", "timeout", "(killed after 120s)"), done}, "", "feature usbip, probe vhci-hcd: timeout", 1},
		{"never started", nil, "", "probe runner never started", 0},
		{"stopped midway", []string{start, boot, probeLine("fuse", "bindfs", "pass", "")}, "", "stopped after probe fuse/bindfs without finishing", 1},
		{"wrong kernel", []string{start, boot, done}, "6.6.87.2-microsoft-standard-WSL2", "the guest runs kernel 6.12.117.1-microsoft-standard-WSL2, want 6.6.87.2", 0},
		{"torn line", []string{start, `{"type":"probe","feat`}, "", "results line 2 is not a JSON record", 0},
		{"unknown record", []string{start, `{"type":"surprise"}`}, "", "results line 2: unknown record type \"surprise\"", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseResults([]byte(strings.Join(tt.lines, "\n")))
			if err == nil {
				err = p.check(tt.release)
			}
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("parse and check = %v, want error containing %q", err, tt.wantErr)
			}
			if len(p.result.Probes) != tt.probes {
				t.Errorf("%d probes parsed, want %d", len(p.result.Probes), tt.probes)
			}
			if tt.wantErr == "" && (p.result.TimeToInit != 2500*time.Millisecond || p.result.TimeToMultiUser != 31*time.Second) {
				t.Errorf("times = %v, %v; want 2.5s, 31s", p.result.TimeToInit, p.result.TimeToMultiUser)
			}
		})
	}
}

func TestCommand(t *testing.T) {
	base := Options{Kernel: "/k/bzImage", WorkDir: "/w"}
	tests := []struct {
		name        string
		o           Options
		want, unwnt []string // substrings of the joined command line that must (not) be there
	}{
		{"pipeline", func() Options { o := base; o.ModulesDisk = "/m/modules.vhdx"; return o }(),
			[]string{"format=vhdx,readonly=on,file=/m/modules.vhdx", "wslkernel.modules=/dev/vdb", "file=/w/root.qcow2", "path=/w/results.jsonl ", "name=wslkernel.results", "path=/w/share,mount_tag=hostshare", "wslkernel.probe_timeout=300", "-m 2048M -smp 2", "wslkernel.share_token=tok", "init=/usr/local/sbin/wslk-init"},
			[]string{"-initrd"}},
		{"initrd, some probes, no modules", func() Options {
			o := base
			o.Initrd, o.Probes, o.ProbeTimeout, o.CPUs = "/k/initrd.img", []string{"fuse/bindfs", "tc/netem"}, time.Minute, 1
			return o
		}(),
			[]string{"-initrd /k/initrd.img", "wslkernel.probes=fuse/bindfs,tc/netem", "wslkernel.probe_timeout=60", "-smp 1"},
			[]string{"vhdx", "wslkernel.modules"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, args := Command(tt.o, "tok")
			line := strings.Join(args, " ")
			if prog != "qemu-system-x86_64" {
				t.Errorf("program %s", prog)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("command line lacks %q:\n%s", w, line)
				}
			}
			for _, w := range tt.unwnt {
				if strings.Contains(line, w) {
					t.Errorf("command line has %q:\n%s", w, line)
				}
			}
		})
	}
}

// guestRunner stands in for qemu: it runs qemu-img for real and plays a guest that writes
// results lines (and the share's answer) or hangs until the boot's timeout.
type guestRunner struct {
	runner.Exec // Filter and LookPath, for real
	lines       []string
	answer      func(share string) // writes share/from-guest
	hang        bool
}

func (g guestRunner) Run(ctx context.Context, name string, args, env []string, out io.Writer) error {
	if name == "qemu-img" {
		return os.WriteFile(args[len(args)-1], nil, 0o644)
	}
	work := filepath.Dir(strings.TrimPrefix(args[slices.Index(args, "-drive")+1], "if=none,id=root,format=qcow2,file="))
	fmt.Fprintln(out, "[    0.000000] Linux version 6.1.0-57-amd64")
	if g.answer != nil {
		g.answer(filepath.Join(work, "share"))
	}
	if err := os.WriteFile(filepath.Join(work, "results.jsonl"), []byte(strings.Join(g.lines, "\n")), 0o644); err != nil {
		return err
	}
	if g.hang {
		fmt.Fprintln(out, "[  300.000000] task docker:1234 blocked for more than 120 seconds.")
		<-ctx.Done()
		return ctx.Err()
	}
	return nil
}

func TestRun(t *testing.T) {
	start, done := `{"type":"start","release":"r"}`, `{"type":"done"}`
	echo := func(share string) {
		token, _ := os.ReadFile(filepath.Join(share, "from-host"))
		os.WriteFile(filepath.Join(share, "from-guest"), []byte("guest-read:"+string(token)), 0o644)
	}
	tests := []struct {
		name    string
		g       guestRunner
		wantErr []string
		probes  int
	}{
		{"pass", guestRunner{lines: []string{start, probeLine("shares-9p-virtiofs", "virtio-9p", "pass", ""), done}, answer: echo}, nil, 1},
		{"share not written back", guestRunner{lines: []string{start, probeLine("shares-9p-virtiofs", "virtio-9p", "pass", ""), done}},
			[]string{"feature shares-9p-virtiofs, probe virtio-9p: fail", "host: share/from-guest should hold", "console.log"}, 1},
		{"guest hangs", guestRunner{lines: []string{start}, hang: true},
			[]string{"did not power off within 200ms", "before the first probe", "console.log", "blocked for more than 120 seconds"}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := Options{Kernel: "bzImage", Image: filepath.Join(dir, "base.img"), WorkDir: filepath.Join(dir, "run"), Release: "r", Timeout: 200 * time.Millisecond}
			res, err := Run(context.Background(), tt.g, o)
			if len(tt.wantErr) == 0 && err != nil {
				t.Fatalf("Run = %v", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("Run error = %v, want it to contain %q", err, w)
				}
			}
			if res == nil || len(res.Probes) != tt.probes {
				t.Fatalf("Run result = %+v, want %d probes", res, tt.probes)
			}
			if data, err := os.ReadFile(filepath.Join(o.WorkDir, "console.log")); err != nil || !strings.Contains(string(data), "Linux version") {
				t.Errorf("console log not kept: %v %q", err, data)
			}
		})
	}
}

// The guest's probe list (wslk-probes' PROBES): bash reads the script, each probe's function is
// defined, each names a feature of configs/features (or modules, the overlaid disk) and is
// listed once, and the probe that removes AppArmor's tools from the userland runs last, so every
// other Docker probe runs with them, as on a distro that has them.
func TestGuestProbes(t *testing.T) {
	const script = "../../conformance/guest/usr/local/sbin/wslk-probes"
	if out, err := exec.Command("bash", "-n", script).CombinedOutput(); err != nil {
		t.Fatalf("bash -n %s: %v\n%s", script, err, out)
	}
	data, err := os.ReadFile(script)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	_, list, ok := strings.Cut(text, "\nPROBES=(\n")
	list, _, ok2 := strings.Cut(list, "\n)\n")
	if !ok || !ok2 {
		t.Fatalf("%s: no PROBES=( ... ) list", script)
	}
	var ids []string
	for n, line := range strings.Split(list, "\n") {
		fields := strings.Fields(strings.Trim(strings.TrimSpace(line), `"`))
		if len(fields) != 3 {
			t.Errorf("PROBES line %d %q: want \"feature probe function\"", n+1, line)
			continue
		}
		feature, name, fn := fields[0], fields[1], fields[2]
		if !strings.Contains(text, "\n"+fn+"() {") {
			t.Errorf("probe %s/%s: no function %s in %s", feature, name, fn, script)
		}
		if _, err := os.Stat("../../configs/features/" + feature + ".config"); err != nil && feature != "modules" {
			t.Errorf("probe %s/%s: no feature %s in configs/features", feature, name, feature)
		}
		id := feature + "/" + name
		if slices.Contains(ids, id) {
			t.Errorf("probe %s is listed twice", id)
		}
		ids = append(ids, id)
	}
	if want := 33; len(ids) != want {
		t.Errorf("%d probes, want %d: %v", len(ids), want, ids)
	}
	if last := ids[len(ids)-1]; last != "security/docker-without-apparmor-tools" {
		t.Errorf("the last probe is %s, want security/docker-without-apparmor-tools (it removes AppArmor's tools)", last)
	}
}
