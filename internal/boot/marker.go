package boot

// Marker starts the lines the smoke init prints. The first is " release=<uname -r> machine=<m>";
// when the boot test attached a modules disk, a second says whether the module loaded from it:
// " module=<name> loaded from <device>" or " module=<name> error=<why>". The boot test looks for
// them on the serial console; the kernel's own "Linux version" banner cannot be mistaken for them.
const Marker = "WSLKERNEL-SMOKE-INIT"

// The smoke init reads its instructions from its environment, where the kernel puts unknown
// name=value parameters of its command line: the modules disk's device and the module to load.
const (
	EnvModulesDisk = "smoke_modules_disk"
	EnvModule      = "smoke_module"
)
