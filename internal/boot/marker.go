package boot

// Marker starts the line the smoke init prints, followed by " release=<uname -r>". The boot test
// looks for it on the serial console; the kernel's own "Linux version" banner cannot be mistaken
// for it.
const Marker = "WSLKERNEL-SMOKE-INIT"
