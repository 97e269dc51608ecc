package boot

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wslkernel/wslkernel/internal/runner"
)

const goodConsole = `[    0.000000] Linux version 6.12.118.1-microsoft-standard-WSL2 (wslkernel@wslkernel) #1
[    0.588015] Run /init as init process
WSLKERNEL-SMOKE-INIT release=6.12.118.1-microsoft-standard-WSL2 machine=x86_64
[    0.696022] Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000000
`

func TestCheck(t *testing.T) {
	res, err := Check([]byte(goodConsole), "6.12.118.1-microsoft-standard-WSL2", "")
	if err != nil || res.TimeToInit != 588015*time.Microsecond {
		t.Fatalf("Check(good) = %+v, %v", res, err)
	}
	if _, err := Check([]byte(goodConsole), "6.12.118.2-microsoft-standard-WSL2", ""); err == nil ||
		!strings.Contains(err.Error(), "the init reports release 6.12.118.1-microsoft-standard-WSL2, want 6.12.118.2") {
		t.Errorf("Check(wrong release) = %v", err)
	}
	panicked := "[    0.5] Linux version 6.12.118.1-microsoft-standard-WSL2\n[    0.6] Kernel panic - not syncing: VFS: Unable to mount root fs\n"
	if _, err := Check([]byte(panicked), "x", ""); err == nil || !strings.Contains(err.Error(), "panicked before the init printed its marker") {
		t.Errorf("Check(panic) = %v", err)
	}
	// The kernel's own banner carries the release too; it must not pass for the init's marker.
	if _, err := Check([]byte("Linux version 6.12.118.1-microsoft-standard-WSL2\n"), "6.12.118.1-microsoft-standard-WSL2", ""); err == nil {
		t.Errorf("Check accepted the kernel banner as the init's marker")
	}
}

// hang is a Runner whose qemu prints a little and then never exits until killed.
type hang struct{ runner.Exec } // Filter and LookPath, which a boot never needs

func (hang) Run(ctx context.Context, _ string, _, _ []string, out io.Writer) error {
	io.WriteString(out, "[    0.000000] Linux version 6.12.118.1\n")
	<-ctx.Done()
	return ctx.Err()
}

func TestTimeoutSavesTheConsole(t *testing.T) {
	log := filepath.Join(t.TempDir(), "console.log")
	_, err := Run(context.Background(), hang{}, Options{Arch: "x86_64", Kernel: "k", Initrd: "i", Timeout: 50 * time.Millisecond, ConsoleLog: log, Release: "r"})
	if !errors.Is(err, ErrBoot) || !strings.Contains(err.Error(), "no init marker within 50ms") || !strings.Contains(err.Error(), "Linux version 6.12.118.1") {
		t.Errorf("Run(hang) = %v", err)
	}
	if data, _ := os.ReadFile(log); !strings.Contains(string(data), "Linux version") {
		t.Errorf("console log not saved: %q", data)
	}
}

func TestCommand(t *testing.T) {
	prog, args, err := Command(Options{Arch: "x86_64", Kernel: "/k", Initrd: "/i", Cmdline: "quiet"})
	if err != nil || prog != "qemu-system-x86_64" {
		t.Fatalf("Command = %s, %v", prog, err)
	}
	got := strings.Join(args, " ")
	if want := "-nodefaults -no-user-config -display none -serial stdio -no-reboot -m 256M -kernel /k -initrd /i -append console=ttyS0 panic=-1 oops=panic quiet"; got != want {
		t.Errorf("args = %q\nwant   %q", got, want)
	}
	if _, _, err := Command(Options{Arch: "riscv64"}); err == nil {
		t.Errorf("Command(riscv64) = nil error")
	}
}

func TestCheckModule(t *testing.T) {
	const rel = "6.12.118.1-microsoft-standard-WSL2"
	loaded := goodConsole + "WSLKERNEL-SMOKE-INIT module=crc_itu_t loaded from /dev/vda\n"
	if res, err := Check([]byte(loaded), rel, "crc_itu_t"); err != nil || res.Module != "crc_itu_t" {
		t.Errorf("Check(loaded) = %+v, %v", res, err)
	}
	for _, c := range []struct{ console, want string }{
		{goodConsole, "never said whether it loaded crc_itu_t"},
		{goodConsole + "WSLKERNEL-SMOKE-INIT module=crc_itu_t error=mounting /dev/vda (ext4) on /lib/modules/x: no such device\n",
			"could not load crc_itu_t from the modules disk: mounting /dev/vda (ext4) on /lib/modules/x: no such device"},
		{goodConsole + "WSLKERNEL-SMOKE-INIT module=jbd2 loaded from /dev/vda\n", "the init loaded jbd2, want crc_itu_t"},
	} {
		if _, err := Check([]byte(c.console), rel, "crc_itu_t"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Check = %v, want %q", err, c.want)
		}
	}
}

func TestCommandAttachesTheModulesDisk(t *testing.T) {
	for arch, dev := range map[string]string{"x86_64": "virtio-blk-pci", "arm64": "virtio-blk-device"} {
		_, args, err := Command(Options{Arch: arch, Kernel: "/k", Initrd: "/i", ModulesDisk: "/o/modules.vhdx", Module: "crc_itu_t"})
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(args, " ")
		for _, want := range []string{"-drive if=none,id=modules,format=vhdx,readonly=on,file=/o/modules.vhdx", "-device " + dev + ",drive=modules",
			"panic=-1 oops=panic smoke_modules_disk=vda smoke_module=crc_itu_t"} {
			if !strings.Contains(got, want) {
				t.Errorf("%s: args %q lack %q", arch, got, want)
			}
		}
	}
}
