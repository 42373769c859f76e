//go:build !vulkan

package vulkan

import "errors"

// ErrNotBuilt is returned by every entry point of a binary built without the
// vulkan tag.
var ErrNotBuilt = errors.New("vulkan: this binary was built without Vulkan support (build with -tags vulkan, e.g. make vulkan)")

// Enabled reports whether the package was built with Vulkan support.
const Enabled = false

// Info describes a device; see the vulkan build.
type Info struct {
	Index int
	Name  string
}

// Device is a Vulkan device; without the vulkan tag none can be opened.
type Device struct{}

// Devices reports ErrNotBuilt.
func Devices() ([]Info, error) { return nil, ErrNotBuilt }

// Open reports ErrNotBuilt.
func Open(index int) (*Device, error) { return nil, ErrNotBuilt }

// Info is empty.
func (d *Device) Info() Info { return Info{} }

// Close does nothing.
func (d *Device) Close() {}

func (i Info) String() string { return "none" }
