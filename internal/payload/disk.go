package payload

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// VHD footer fields (big-endian), from the VHD specification: the cookie, the current size and
// the disk type, 2 for a fixed disk.
const (
	vhdFooterSize = 512
	vhdSizeAt     = 48
	vhdTypeAt     = 60
	vhdFixed      = 2
	// ext4's superblock magic, 0xEF53 little-endian, 56 bytes into the superblock at 1024.
	ext4MagicAt = 1024 + 56
)

var vhdTypes = map[uint32]string{3: "dynamic", 4: "differencing"}

// checkDisk refuses a modules disk WSL would not mount, before anything is packaged: Windows
// opens a virtual disk by its extension, so modules.vhdx must be a VHDX and modules.vhd and
// artifacts.vhd VHDs, of the fixed kind the NuGet's modules.vhd is (its footer's size the
// image's); WSL's init mounts the disk's file system as ext4. (What artifacts.vhd holds, its
// layout, is checked by moddisk.CheckArtifacts.) What it holds is proven by the boot stage, which mounts it as
// WSL's init does and loads a module from it.
func checkDisk(path, name string, data []byte) error {
	switch name {
	case "modules.vhdx":
		if !bytes.HasPrefix(data, []byte("vhdxfile")) {
			return fmt.Errorf("package: %s is not a VHDX (no vhdxfile signature), and Windows opens a .vhdx as one: rebuild the modules (kbuild run)", path)
		}
	case "modules.vhd", "artifacts.vhd":
		if len(data) < vhdFooterSize+ext4MagicAt+2 || !bytes.HasPrefix(data[len(data)-vhdFooterSize:], []byte("conectix")) {
			return fmt.Errorf("package: %s is not a fixed VHD (no conectix footer in its last 512 bytes), and Windows opens a .vhd as one: rebuild the modules (kbuild run)", path)
		}
		footer := data[len(data)-vhdFooterSize:]
		if t := binary.BigEndian.Uint32(footer[vhdTypeAt:]); t != vhdFixed {
			kind := vhdTypes[t]
			if kind == "" {
				kind = fmt.Sprintf("type %d", t)
			}
			return fmt.Errorf("package: %s is a %s VHD; the NuGet package's %s is a fixed one (the raw ext4 image and a footer): rebuild the modules (kbuild run)", path, kind, name)
		}
		if size := binary.BigEndian.Uint64(footer[vhdSizeAt:]); size != uint64(len(data)-vhdFooterSize) {
			return fmt.Errorf("package: %s: its footer says %d bytes, the disk holds %d: a fixed VHD cut short or padded; rebuild the modules (kbuild run)", path, size, len(data)-vhdFooterSize)
		}
		if binary.LittleEndian.Uint16(data[ext4MagicAt:]) != 0xEF53 {
			return fmt.Errorf("package: %s holds no ext4 file system (no superblock magic at byte %d), and WSL's init mounts the modules disk as ext4: rebuild the modules (kbuild run)", path, ext4MagicAt)
		}
	}
	return nil
}
