// Command smokeinit is the /init of the smoke initramfs. It prints the boot marker with the running
// kernel's release; when the boot test attached modules.vhdx, it mounts it where WSL does
// (/lib/modules/<release>, ext4, read-only), loads the module it was asked for with the path
// modules.dep gives, checks /proc/modules lists it, and says so. Then it exits: init exiting
// panics the kernel, and with panic=-1 and -no-reboot qemu then exits, so a boot test needs no
// shutdown path. Static (CGO_ENABLED=0), so it is built for any target arch by setting GOARCH.
package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/wslkernel/wslkernel/internal/boot"
	"github.com/wslkernel/wslkernel/internal/moddisk"
)

func main() {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		fmt.Printf("%s error=%v\n", boot.Marker, err)
		os.Exit(1)
	}
	release := unix.ByteSliceToString(u.Release[:])
	fmt.Printf("%s release=%s machine=%s\n", boot.Marker, release, unix.ByteSliceToString(u.Machine[:]))
	disk, module := os.Getenv(boot.EnvModulesDisk), os.Getenv(boot.EnvModule)
	if disk == "" || module == "" {
		return
	}
	if err := loadModule(release, "/dev/"+disk, module); err != nil {
		fmt.Printf("%s module=%s error=%v\n", boot.Marker, module, err)
		os.Exit(1)
	}
	fmt.Printf("%s module=%s loaded from /dev/%s\n", boot.Marker, module, disk)
}

// loadModule mounts the modules disk and loads module (its name as /proc/modules shows it) from it.
func loadModule(release, dev, module string) error {
	if err := unix.Mount("devtmpfs", "/dev", "devtmpfs", 0, ""); err != nil && err != unix.EBUSY {
		return fmt.Errorf("mounting devtmpfs on /dev: %w", err)
	}
	if err := unix.Mount("proc", "/proc", "proc", 0, ""); err != nil && err != unix.EBUSY {
		return fmt.Errorf("mounting /proc: %w", err)
	}
	dir := "/lib/modules/" + release
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := unix.Mount(dev, dir, "ext4", unix.MS_RDONLY, ""); err != nil {
		return fmt.Errorf("mounting %s (ext4) on %s: %w", dev, dir, err)
	}
	rel, err := lookup(dir+"/modules.dep", module)
	if err != nil {
		return err
	}
	f, err := os.Open(dir + "/" + rel)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		return fmt.Errorf("finit_module %s: %w", rel, err)
	}
	loaded, err := os.ReadFile("/proc/modules")
	if err != nil {
		return err
	}
	for _, line := range strings.Split(string(loaded), "\n") {
		if strings.HasPrefix(line, module+" ") {
			return nil
		}
	}
	return fmt.Errorf("finit_module returned, but /proc/modules does not list %s", module)
}

// lookup finds module's file in modules.dep ("kernel/lib/crc-itu-t.ko: deps"), named as the
// pipeline named it when it chose the module (moddisk.ModuleName).
func lookup(dep, module string) (string, error) {
	f, err := os.Open(dep)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		file, deps, _ := strings.Cut(sc.Text(), ":")
		if moddisk.ModuleName(file) == module {
			if strings.TrimSpace(deps) != "" {
				return "", fmt.Errorf("%s needs %s first; the smoke init loads one module only", module, strings.TrimSpace(deps))
			}
			return file, nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New(module + " is not in " + dep)
}
