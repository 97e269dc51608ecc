package conformance

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/wslkernel/wslkernel/internal/runner"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Options describe one conformance boot (x86_64 only for now: the measured setup).
type Options struct {
	Kernel      string // bzImage
	Initrd      string // optional: none in the pipeline, whose kernel has virtio and ext4 built in
	ModulesDisk string // modules.vhdx, attached read-only and overlaid on /lib/modules/<release>; optional
	Release     string // the uname -r the guest must report; optional
	Image       string // the userland image from Userland.Build; never written to
	WorkDir     string // this run's files: root overlay, console log, results, 9p share
	Memory      string // default 2048M
	CPUs        int    // default 2
	// Timeout bounds the whole boot (default 30 minutes under emulation); ProbeTimeout each probe
	// inside the guest (default 300 s: docker-nft took 81 s under emulation on a loaded machine).
	Timeout      time.Duration
	ProbeTimeout time.Duration
	Probes       []string // feature/probe names to run; all when empty
	Cmdline      string   // appended to the kernel command line
}

// shareTag is the 9p share's mount tag, as the guest's probe mounts it.
const shareTag = "hostshare"

// Command is the qemu program and arguments for a boot whose run files are in o.WorkDir: the
// root disk overlay root.qcow2, the 9p share share/ and the results port file results.jsonl.
func Command(o Options, token string) (string, []string) {
	mem, cpus := o.Memory, o.CPUs
	if mem == "" {
		mem = "2048M"
	}
	if cpus <= 0 {
		cpus = 2
	}
	probeTimeout := o.ProbeTimeout
	if probeTimeout <= 0 {
		probeTimeout = 300 * time.Second
	}
	// wslk-init overlays the modules disk, then execs systemd (see conformance/guest).
	cmdline := []string{"root=/dev/vda", "rw", "init=/usr/local/sbin/wslk-init", "console=ttyS0", "panic=-1",
		"wslkernel.conformance", "wslkernel.probe_timeout=" + strconv.Itoa(int(probeTimeout.Seconds())),
		"wslkernel.share_token=" + token}
	// One TCG thread for all vCPUs: with a thread per vCPU, a vCPU can still run code another
	// has just re-patched (the kernel's int3-based text_poke for static keys and kprobes), and
	// the guest dies with "Oops: int3" (seen once in eight runs, in __schedule during the
	// kprobe probe). Hardware virtualisation, as in WSL, keeps such code coherent.
	args := []string{"-machine", "q35", "-accel", "tcg,thread=single", "-cpu", "max", "-m", mem, "-smp", strconv.Itoa(cpus),
		"-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot",
		"-kernel", o.Kernel,
		"-drive", "if=none,id=root,format=qcow2,file=" + filepath.Join(o.WorkDir, "root.qcow2"),
		"-device", "virtio-blk-pci,drive=root",
	}
	if o.ModulesDisk != "" {
		// The second virtio disk, so /dev/vdb; qemu reads VHDX itself, read-only as WSL attaches it.
		args = append(args, "-drive", "if=none,id=modules,format=vhdx,readonly=on,file="+o.ModulesDisk,
			"-device", "virtio-blk-pci,drive=modules")
		cmdline = append(cmdline, "wslkernel.modules=/dev/vdb")
	}
	if o.Initrd != "" {
		args = append(args, "-initrd", o.Initrd)
	}
	if len(o.Probes) > 0 {
		cmdline = append(cmdline, "wslkernel.probes="+strings.Join(o.Probes, ","))
	}
	if o.Cmdline != "" {
		cmdline = append(cmdline, o.Cmdline)
	}
	args = append(args,
		"-virtfs", "local,path="+filepath.Join(o.WorkDir, "share")+",mount_tag="+shareTag+",security_model=none",
		"-device", "virtio-serial-pci",
		"-chardev", "file,id=results,path="+filepath.Join(o.WorkDir, "results.jsonl"),
		"-device", "virtserialport,chardev=results,name=wslkernel.results",
		"-device", "virtio-rng-pci",
		"-append", strings.Join(cmdline, " "))
	return "qemu-system-x86_64", args
}

// Run boots the kernel with the userland and collects the probes' results. The console log is
// kept in o.WorkDir whatever happens. A probe that failed or timed out is a *ProbeError naming
// the feature, the probe and its output; the Result comes back either way once the guest started.
func Run(ctx context.Context, r runner.Runner, o Options) (*Result, error) {
	if o.Kernel == "" || o.Image == "" || o.WorkDir == "" {
		return nil, errors.New("conformance: Kernel, Image and WorkDir are required")
	}
	token, err := prepare(ctx, r, o)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Minute
	}
	consolePath := filepath.Join(o.WorkDir, "console.log")
	console, err := os.Create(consolePath)
	if err != nil {
		return nil, err
	}
	defer console.Close()
	bootCtx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	prog, args := Command(o, token)
	fmt.Fprintf(console, "# %s %s\n", prog, strings.Join(args, " "))
	start := time.Now()
	runErr := r.Run(bootCtx, prog, args, nil, console)
	wall := time.Since(start)
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	data, readErr := os.ReadFile(filepath.Join(o.WorkDir, "results.jsonl"))
	if readErr != nil && !os.IsNotExist(readErr) {
		return nil, readErr
	}
	p, parseErr := parseResults(data)
	p.result.Wall, p.result.ConsoleLog = wall, consolePath
	checkShare(o.WorkDir, token, &p.result)
	err = explainRun(p, parseErr, o.Release, bootCtx.Err(), runErr, timeout)
	var probeErr *ProbeError
	switch {
	case errors.As(err, &probeErr):
		return &p.result, fmt.Errorf("%w\n(console: %s)", err, consolePath)
	case err != nil:
		return resultIfStarted(p), fmt.Errorf("%w (console: %s)%s", err, consolePath, consoleTail(consolePath))
	}
	return &p.result, nil
}

// prepare writes the run's files: the copy-on-write root overlay and the 9p share with its token.
func prepare(ctx context.Context, r runner.Runner, o Options) (string, error) {
	share := filepath.Join(o.WorkDir, "share")
	if err := os.RemoveAll(o.WorkDir); err != nil {
		return "", err
	}
	if err := os.MkdirAll(share, 0o755); err != nil {
		return "", err
	}
	var buf [8]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return "", err
	}
	token := hex.EncodeToString(buf[:])
	if err := os.WriteFile(filepath.Join(share, "from-host"), []byte(token+"\n"), 0o644); err != nil {
		return "", err
	}
	base, err := filepath.Abs(o.Image)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	args := []string{"create", "-q", "-f", "qcow2", "-F", "raw", "-b", base, filepath.Join(o.WorkDir, "root.qcow2")}
	if err := r.Run(ctx, "qemu-img", args, nil, &out); err != nil {
		return "", fmt.Errorf("qemu-img %s (qemu-utils): %v%s", strings.Join(args, " "), err, tailLines(out.Bytes(), 5))
	}
	return token, nil
}

// checkShare turns a passed 9p probe into a failure when the host does not find, in the share,
// the token the guest said it read: the write back is half of the probe.
func checkShare(workDir, token string, res *Result) {
	for i, p := range res.Probes {
		if p.Feature != "shares-9p-virtiofs" || !p.Pass() {
			continue
		}
		got, err := os.ReadFile(filepath.Join(workDir, "share", "from-guest"))
		if want := "guest-read:" + token; err != nil || strings.TrimSpace(string(got)) != want {
			res.Probes[i].Status = "fail"
			res.Probes[i].Output += fmt.Sprintf("\nhost: share/from-guest should hold %q; found %q (%v)", want, got, err)
		}
	}
}

// explainRun is the run's error, if any, most telling first.
func explainRun(p *parsed, parseErr error, wantRelease string, bootErr, runErr error, timeout time.Duration) error {
	checkErr := p.check(wantRelease)
	var probeErr *ProbeError
	switch {
	case errors.As(checkErr, &probeErr):
		return checkErr
	case parseErr != nil:
		return fmt.Errorf("%w: %v", ErrConformance, parseErr)
	case checkErr != nil && bootErr == context.DeadlineExceeded:
		return fmt.Errorf("%w: the guest did not power off within %s: %v", ErrConformance, timeout, checkErr)
	case checkErr != nil && runErr != nil:
		return fmt.Errorf("%w: qemu-system-x86_64: %v; %v", ErrConformance, runErr, checkErr)
	case checkErr != nil:
		return fmt.Errorf("%w: %v", ErrConformance, checkErr)
	}
	return nil
}

func resultIfStarted(p *parsed) *Result {
	if !p.started {
		return nil
	}
	return &p.result
}

func consoleTail(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return "\nlast console lines:" + tailLines(data, 15)
}
