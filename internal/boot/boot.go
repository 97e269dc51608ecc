// Package boot runs a kernel and initrd under qemu and checks that the smoke init came up with the
// expected kernel release.
package boot

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
)

// Options describe one boot.
type Options struct {
	Arch       string // x86_64 or arm64
	Kernel     string
	Initrd     string
	Memory     string // default 256M
	Cmdline    string // appended to the console and panic settings
	Timeout    time.Duration
	ConsoleLog string // where the serial console is saved
	Release    string // the uname -r the init must report
	// ModulesDisk is modules.vhdx, attached read-only as the first virtio disk (vda); the init
	// mounts it at /lib/modules/<release> and must load Module (a name as /proc/modules has it).
	ModulesDisk string
	Module      string
}

// Result is what a successful boot showed.
type Result struct {
	Release    string
	Module     string        // the module the init loaded from the modules disk, if it was asked to
	TimeToInit time.Duration // kernel timestamp of "Run /init", when printk has timestamps
	Wall       time.Duration
}

// ErrBoot is wrapped by every failed boot.
var ErrBoot = errors.New("boot test failed")

// Command is the qemu program and arguments for the options.
func Command(o Options) (string, []string, error) {
	mem := o.Memory
	if mem == "" {
		mem = "256M"
	}
	var prog, console, blk string
	var extra []string
	switch o.Arch {
	case "x86_64":
		prog, console, blk = "qemu-system-x86_64", "ttyS0", "virtio-blk-pci"
	case "arm64":
		// The virt machine's virtio-mmio slots, described in its device tree: no PCI needed.
		prog, console, blk = "qemu-system-aarch64", "ttyAMA0", "virtio-blk-device"
		extra = []string{"-machine", "virt", "-cpu", "cortex-a57"}
	default:
		return "", nil, fmt.Errorf("boot: unknown arch %q", o.Arch)
	}
	cmdline := "console=" + console + " panic=-1 oops=panic"
	if o.ModulesDisk != "" {
		cmdline += " " + EnvModulesDisk + "=vda " + EnvModule + "=" + o.Module
		// qemu reads VHDX itself; read-only, as WSL attaches it.
		extra = append(extra, "-drive", "if=none,id=modules,format=vhdx,readonly=on,file="+o.ModulesDisk, "-device", blk+",drive=modules")
	}
	if o.Cmdline != "" {
		cmdline += " " + o.Cmdline
	}
	// No default devices: on the pc machine they are a VGA card and an e1000 whose option ROM
	// SeaBIOS runs under emulation, about 0.3 s of every boot; the serial port is the console.
	args := append(extra, "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio", "-no-reboot", "-m", mem,
		"-kernel", o.Kernel, "-initrd", o.Initrd, "-append", cmdline)
	return prog, args, nil
}

// Run boots and checks the console. The console log is saved whatever happens.
func Run(ctx context.Context, r runner.Runner, o Options) (*Result, error) {
	prog, args, err := Command(o)
	if err != nil {
		return nil, err
	}
	timeout := o.Timeout
	if timeout <= 0 {
		timeout = 180 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var console bytes.Buffer
	start := time.Now()
	runErr := r.Run(ctx, prog, args, nil, &console)
	wall := time.Since(start)
	if o.ConsoleLog != "" {
		if err := os.WriteFile(o.ConsoleLog, console.Bytes(), 0o644); err != nil {
			return nil, err
		}
	}
	res, checkErr := Check(console.Bytes(), o.Release, o.Module)
	switch {
	case checkErr == nil:
		res.Wall = wall
		return res, nil
	case ctx.Err() == context.DeadlineExceeded:
		return nil, fmt.Errorf("%w: no init marker within %s (console: %s)%s", ErrBoot, timeout, o.ConsoleLog, tail(console.Bytes()))
	case runErr != nil && !strings.Contains(console.String(), "Linux version"):
		return nil, fmt.Errorf("%w: %v (console: %s)%s", ErrBoot, runErr, o.ConsoleLog, tail(console.Bytes()))
	default:
		return nil, fmt.Errorf("%w: %v (console: %s)%s", ErrBoot, checkErr, o.ConsoleLog, tail(console.Bytes()))
	}
}

var (
	markerLine = regexp.MustCompile(regexp.QuoteMeta(Marker) + ` release=(\S+)`)
	moduleLine = regexp.MustCompile(regexp.QuoteMeta(Marker) + ` module=(\S+) (loaded from \S+|error=.*)`)
	runInit    = regexp.MustCompile(`\[\s*(\d+)\.(\d{6})\] Run (\S+) as init process`)
)

// Check reads a console log: the marker must be there with the expected release and, when
// wantModule is set, the init must say it loaded that module from the modules disk.
func Check(console []byte, wantRelease, wantModule string) (*Result, error) {
	m := markerLine.FindSubmatch(console)
	if m == nil {
		if bytes.Contains(console, []byte("Kernel panic")) {
			return nil, errors.New("the kernel panicked before the init printed its marker")
		}
		return nil, errors.New("the init never printed its marker")
	}
	res := &Result{Release: string(m[1])}
	if res.Release != wantRelease {
		return nil, fmt.Errorf("the init reports release %s, want %s", res.Release, wantRelease)
	}
	if wantModule != "" {
		m := moduleLine.FindSubmatch(console)
		switch {
		case m == nil:
			return nil, fmt.Errorf("the init never said whether it loaded %s from the modules disk", wantModule)
		case string(m[1]) != wantModule:
			return nil, fmt.Errorf("the init loaded %s, want %s", m[1], wantModule)
		case !bytes.HasPrefix(m[2], []byte("loaded")):
			return nil, fmt.Errorf("the init could not load %s from the modules disk: %s", wantModule, bytes.TrimPrefix(m[2], []byte("error=")))
		}
		res.Module = wantModule
	}
	if t := runInit.FindSubmatch(console); t != nil {
		sec, _ := strconv.Atoi(string(t[1]))
		usec, _ := strconv.Atoi(string(t[2]))
		res.TimeToInit = time.Duration(sec)*time.Second + time.Duration(usec)*time.Microsecond
	}
	return res, nil
}

// tail is the last lines of the console, for an error a user can read without opening the log.
func tail(console []byte) string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(console))
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	if len(lines) > 15 {
		lines = lines[len(lines)-15:]
	}
	if len(lines) == 0 {
		return "\n(the console is empty)"
	}
	return "\nlast console lines:\n  " + strings.Join(lines, "\n  ")
}
