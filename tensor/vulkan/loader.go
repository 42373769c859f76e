//go:build vulkan

package vulkan

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"sync"
	"unsafe"

	"github.com/ebitengine/purego"
)

// Enabled reports whether the package was built with Vulkan support.
const Enabled = true

// LoaderEnv names the environment variable that overrides the loader's file
// name (default libvulkan.so.1), for tests and unusual installs.
const LoaderEnv = "LATENTMAS_VULKAN_LOADER"

// ErrNoLoader means the Vulkan loader library could not be loaded; ErrNoDevice
// that it loaded but offers no device with a compute queue.
var (
	ErrNoLoader = errors.New("vulkan: no Vulkan loader")
	ErrNoDevice = errors.New("vulkan: no Vulkan device")
)

// vk holds the entry points, resolved once from the loader.
type funcs struct {
	CreateInstance                         func(info *InstanceCreateInfo, alloc unsafe.Pointer, inst *uintptr) int32
	DestroyInstance                        func(inst uintptr, alloc unsafe.Pointer)
	EnumeratePhysicalDevices               func(inst uintptr, count *uint32, devs *uintptr) int32
	GetPhysicalDeviceProperties            func(pd uintptr, props *PhysicalDeviceProperties)
	GetPhysicalDeviceMemoryProperties      func(pd uintptr, props *PhysicalDeviceMemoryProperties)
	GetPhysicalDeviceQueueFamilyProperties func(pd uintptr, count *uint32, props *QueueFamilyProperties)
	CreateDevice                           func(pd uintptr, info *DeviceCreateInfo, alloc unsafe.Pointer, dev *uintptr) int32
	DestroyDevice                          func(dev uintptr, alloc unsafe.Pointer)
	DeviceWaitIdle                         func(dev uintptr) int32
	GetDeviceQueue                         func(dev uintptr, family, index uint32, q *uintptr)
	CreateBuffer                           func(dev uintptr, info *BufferCreateInfo, alloc unsafe.Pointer, buf *uint64) int32
	DestroyBuffer                          func(dev uintptr, buf uint64, alloc unsafe.Pointer)
	GetBufferMemoryRequirements            func(dev uintptr, buf uint64, req *MemoryRequirements)
	AllocateMemory                         func(dev uintptr, info *MemoryAllocateInfo, alloc unsafe.Pointer, mem *uint64) int32
	FreeMemory                             func(dev uintptr, mem uint64, alloc unsafe.Pointer)
	BindBufferMemory                       func(dev uintptr, buf, mem, off uint64) int32
	MapMemory                              func(dev uintptr, mem, off, size uint64, flags uint32, data *unsafe.Pointer) int32
	UnmapMemory                            func(dev uintptr, mem uint64)
	CreateShaderModule                     func(dev uintptr, info *ShaderModuleCreateInfo, alloc unsafe.Pointer, mod *uint64) int32
	DestroyShaderModule                    func(dev uintptr, mod uint64, alloc unsafe.Pointer)
	CreateDescriptorSetLayout              func(dev uintptr, info *DescriptorSetLayoutCreateInfo, alloc unsafe.Pointer, l *uint64) int32
	DestroyDescriptorSetLayout             func(dev uintptr, l uint64, alloc unsafe.Pointer)
	CreatePipelineLayout                   func(dev uintptr, info *PipelineLayoutCreateInfo, alloc unsafe.Pointer, l *uint64) int32
	DestroyPipelineLayout                  func(dev uintptr, l uint64, alloc unsafe.Pointer)
	CreateComputePipelines                 func(dev uintptr, cache uint64, n uint32, info *ComputePipelineCreateInfo, alloc unsafe.Pointer, p *uint64) int32
	DestroyPipeline                        func(dev uintptr, p uint64, alloc unsafe.Pointer)
	CreateDescriptorPool                   func(dev uintptr, info *DescriptorPoolCreateInfo, alloc unsafe.Pointer, p *uint64) int32
	DestroyDescriptorPool                  func(dev uintptr, p uint64, alloc unsafe.Pointer)
	AllocateDescriptorSets                 func(dev uintptr, info *DescriptorSetAllocateInfo, sets *uint64) int32
	FreeDescriptorSets                     func(dev uintptr, pool uint64, n uint32, sets *uint64) int32
	UpdateDescriptorSets                   func(dev uintptr, n uint32, w *WriteDescriptorSet, nc uint32, c unsafe.Pointer)
	CreateCommandPool                      func(dev uintptr, info *CommandPoolCreateInfo, alloc unsafe.Pointer, p *uint64) int32
	DestroyCommandPool                     func(dev uintptr, p uint64, alloc unsafe.Pointer)
	AllocateCommandBuffers                 func(dev uintptr, info *CommandBufferAllocateInfo, cbs *uintptr) int32
	BeginCommandBuffer                     func(cb uintptr, info *CommandBufferBeginInfo) int32
	EndCommandBuffer                       func(cb uintptr) int32
	ResetCommandBuffer                     func(cb uintptr, flags uint32) int32
	CmdBindPipeline                        func(cb uintptr, bp uint32, p uint64)
	CmdBindDescriptorSets                  func(cb uintptr, bp uint32, layout uint64, first, n uint32, sets *uint64, ndyn uint32, dyn unsafe.Pointer)
	CmdPushConstants                       func(cb uintptr, layout uint64, stages, off, size uint32, vals unsafe.Pointer)
	CmdDispatch                            func(cb uintptr, x, y, z uint32)
	CmdPipelineBarrier                     func(cb uintptr, src, dst, dep, nm uint32, mb *MemoryBarrier, nb uint32, bb unsafe.Pointer, ni uint32, ib unsafe.Pointer)
	CmdCopyBuffer                          func(cb uintptr, src, dst uint64, n uint32, regions *BufferCopy)
	QueueSubmit                            func(q uintptr, n uint32, info *SubmitInfo, fence uint64) int32
	CreateFence                            func(dev uintptr, info *FenceCreateInfo, alloc unsafe.Pointer, f *uint64) int32
	DestroyFence                           func(dev uintptr, f uint64, alloc unsafe.Pointer)
	WaitForFences                          func(dev uintptr, n uint32, f *uint64, all uint32, timeout uint64) int32
	ResetFences                            func(dev uintptr, n uint32, f *uint64) int32
}

var (
	loadOnce sync.Once
	vk       *funcs
	loadErr  error
)

// LoaderName is the library Load opens: $LATENTMAS_VULKAN_LOADER or
// libvulkan.so.1.
func LoaderName() string {
	if n := os.Getenv(LoaderEnv); n != "" {
		return n
	}
	return "libvulkan.so.1"
}

// load opens the loader and resolves every entry point, once per process.
func load() error {
	loadOnce.Do(func() {
		name := LoaderName()
		lib, err := purego.Dlopen(name, purego.RTLD_NOW|purego.RTLD_LOCAL)
		if err != nil {
			loadErr = fmt.Errorf("%w: cannot load %s (install a Vulkan loader and driver, e.g. apt-get install libvulkan1 mesa-vulkan-drivers): %v", ErrNoLoader, name, err)
			return
		}
		f := &funcs{}
		v := reflect.ValueOf(f).Elem()
		for i := 0; i < v.NumField(); i++ {
			sym := "vk" + v.Type().Field(i).Name
			addr, err := purego.Dlsym(lib, sym)
			if err != nil || addr == 0 {
				loadErr = fmt.Errorf("%w: %s has no symbol %s", ErrNoLoader, name, sym)
				return
			}
			purego.RegisterFunc(v.Field(i).Addr().Interface(), addr)
		}
		vk = f
	})
	return loadErr
}

// Result is a VkResult error code.
type Result int32

func (r Result) Error() string {
	names := map[Result]string{
		1: "VK_NOT_READY", 2: "VK_TIMEOUT", -1: "VK_ERROR_OUT_OF_HOST_MEMORY", -2: "VK_ERROR_OUT_OF_DEVICE_MEMORY",
		-3: "VK_ERROR_INITIALIZATION_FAILED", -4: "VK_ERROR_DEVICE_LOST", -5: "VK_ERROR_MEMORY_MAP_FAILED",
		-6: "VK_ERROR_LAYER_NOT_PRESENT", -7: "VK_ERROR_EXTENSION_NOT_PRESENT", -8: "VK_ERROR_FEATURE_NOT_PRESENT",
		-9: "VK_ERROR_INCOMPATIBLE_DRIVER", -10: "VK_ERROR_TOO_MANY_OBJECTS", -12: "VK_ERROR_FRAGMENTED_POOL",
		-1000069000: "VK_ERROR_OUT_OF_POOL_MEMORY",
	}
	if n, ok := names[r]; ok {
		return n
	}
	return fmt.Sprintf("VkResult(%d)", int32(r))
}

// check turns a VkResult into an error naming the call.
func check(what string, r int32) error {
	if r == 0 {
		return nil
	}
	return fmt.Errorf("vulkan: %s: %w", what, Result(r))
}

// Constants from vulkan_core.h.
const (
	stApplicationInfo           = 0
	stInstanceCreateInfo        = 1
	stDeviceQueueCreateInfo     = 2
	stDeviceCreateInfo          = 3
	stSubmitInfo                = 4
	stMemoryAllocateInfo        = 5
	stFenceCreateInfo           = 8
	stBufferCreateInfo          = 12
	stShaderModuleCreateInfo    = 16
	stPipelineShaderStageCreate = 18
	stComputePipelineCreateInfo = 29
	stPipelineLayoutCreateInfo  = 30
	stDescriptorSetLayoutCreate = 32
	stDescriptorPoolCreateInfo  = 33
	stDescriptorSetAllocateInfo = 34
	stWriteDescriptorSet        = 35
	stCommandPoolCreateInfo     = 39
	stCommandBufferAllocateInfo = 40
	stCommandBufferBeginInfo    = 42
	stMemoryBarrier             = 46
	errOutOfPoolMemory          = -1000069000
	errFragmentedPool           = -12
	queueCompute                = 0x2
	memDeviceLocal              = 0x1
	memHostVisible              = 0x2
	memHostCoherent             = 0x4
	memHostCached               = 0x8
	heapDeviceLocal             = 0x1
	bufUsageTransferSrc         = 0x1
	bufUsageTransferDst         = 0x2
	bufUsageStorage             = 0x20
	descStorageBuffer           = 7
	stageCompute                = 0x20
	bindPointCompute            = 1
	accessShaderRead            = 0x20
	accessShaderWrite           = 0x40
	accessTransferRead          = 0x800
	accessTransferWrite         = 0x1000
	accessHostRead              = 0x2000
	accessHostWrite             = 0x4000
	pipeStageCompute            = 0x800
	pipeStageTransfer           = 0x1000
	pipeStageHost               = 0x4000
	cmdPoolResetCommandBuffer   = 0x2
	cmdBufferOneTimeSubmit      = 0x1
	descPoolFreeDescriptorSet   = 0x1
	wholeSize                   = ^uint64(0)
	apiVersion10                = 1 << 22
)

// cstr returns a NUL-terminated copy of s on the Go heap.
func cstr(s string) unsafe.Pointer {
	b := append([]byte(s), 0)
	return unsafe.Pointer(&b[0])
}

// gostr reads a NUL-terminated fixed array.
func gostr(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}
