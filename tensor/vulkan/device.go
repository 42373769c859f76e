//go:build vulkan

package vulkan

import (
	"fmt"
	"runtime"
	"sort"
	"sync"
	"unsafe"
)

// Info describes one physical device: what `latentmas devices` prints.
type Info struct {
	Index                  int    // position in the loader's enumeration; --device vulkan:N
	Name                   string // e.g. "NVIDIA H100 80GB HBM3", "llvmpipe (LLVM 15.0.6, 256 bits)"
	Type                   string // discrete, integrated, virtual, cpu, other
	API                    string // Vulkan version the driver implements
	VendorID, DeviceID     uint32
	DeviceLocalBytes       uint64 // largest device-local heap
	HostVisibleDeviceLocal bool   // device-local memory the CPU can map (UMA, ReBAR, CPU drivers)
	ComputeQueue           int    // queue family used for compute, -1 if none

	MaxStorageBufferRange   uint32
	MaxComputeSharedMemory  uint32
	MaxWorkGroupInvocations uint32
	MaxWorkGroupSize        [3]uint32
	MaxWorkGroupCount       [3]uint32
	MaxPushConstantsSize    uint32
	MaxMemoryAllocations    uint32
}

func (i Info) String() string {
	return fmt.Sprintf("vulkan:%d %s (%s, Vulkan %s, %.1f GiB device-local)", i.Index, i.Name, i.Type, i.API, float64(i.DeviceLocalBytes)/(1<<30))
}

// instance is the process's one VkInstance, created on first use.
var (
	instOnce sync.Once
	inst     uintptr
	physDevs []uintptr
	instErr  error
)

func instance() error {
	if err := load(); err != nil {
		return err
	}
	instOnce.Do(func() {
		app := &ApplicationInfo{SType: stApplicationInfo, PApplicationName: cstr("latentmas"), PEngineName: cstr("latentmas"), ApiVersion: apiVersion10 | 1<<12}
		ci := &InstanceCreateInfo{SType: stInstanceCreateInfo, PApplicationInfo: unsafe.Pointer(app)}
		r := vk.CreateInstance(ci, nil, &inst)
		runtime.KeepAlive(app)
		if r == -9 { // VK_ERROR_INCOMPATIBLE_DRIVER: no ICD at all, or none for 1.1; retry with 1.0
			app.ApiVersion = apiVersion10
			r = vk.CreateInstance(ci, nil, &inst)
		}
		if r != 0 {
			instErr = fmt.Errorf("%w: vkCreateInstance: %v (is a Vulkan driver installed? e.g. apt-get install mesa-vulkan-drivers)", ErrNoDevice, Result(r))
			return
		}
		var n uint32
		if r := vk.EnumeratePhysicalDevices(inst, &n, nil); r != 0 {
			instErr = check("vkEnumeratePhysicalDevices", r)
			return
		}
		if n > 0 {
			physDevs = make([]uintptr, n)
			if r := vk.EnumeratePhysicalDevices(inst, &n, &physDevs[0]); r != 0 && r != 5 {
				instErr = check("vkEnumeratePhysicalDevices", r)
				return
			}
			physDevs = physDevs[:n]
		}
	})
	return instErr
}

func describe(i int, pd uintptr) (Info, PhysicalDeviceMemoryProperties) {
	props := new(PhysicalDeviceProperties)
	vk.GetPhysicalDeviceProperties(pd, props)
	mem := new(PhysicalDeviceMemoryProperties)
	vk.GetPhysicalDeviceMemoryProperties(pd, mem)
	types := map[uint32]string{0: "other", 1: "integrated", 2: "discrete", 3: "virtual", 4: "cpu"}
	v := props.ApiVersion
	in := Info{
		Index: i, Name: gostr(props.DeviceName[:]), Type: types[props.DeviceType],
		API:      fmt.Sprintf("%d.%d.%d", v>>22&0x7f, v>>12&0x3ff, v&0xfff),
		VendorID: props.VendorID, DeviceID: props.DeviceID, ComputeQueue: -1,
		MaxStorageBufferRange:   props.Limits.MaxStorageBufferRange,
		MaxComputeSharedMemory:  props.Limits.MaxComputeSharedMemorySize,
		MaxWorkGroupInvocations: props.Limits.MaxComputeWorkGroupInvocations,
		MaxWorkGroupSize:        props.Limits.MaxComputeWorkGroupSize,
		MaxWorkGroupCount:       props.Limits.MaxComputeWorkGroupCount,
		MaxPushConstantsSize:    props.Limits.MaxPushConstantsSize,
		MaxMemoryAllocations:    props.Limits.MaxMemoryAllocationCount,
	}
	for h := uint32(0); h < mem.MemoryHeapCount; h++ {
		if mem.MemoryHeaps[h].Flags&heapDeviceLocal != 0 {
			in.DeviceLocalBytes = max(in.DeviceLocalBytes, mem.MemoryHeaps[h].Size)
		}
	}
	for t := uint32(0); t < mem.MemoryTypeCount; t++ {
		f := mem.MemoryTypes[t].PropertyFlags
		if f&(memDeviceLocal|memHostVisible|memHostCoherent) == memDeviceLocal|memHostVisible|memHostCoherent {
			in.HostVisibleDeviceLocal = true
		}
	}
	var n uint32
	vk.GetPhysicalDeviceQueueFamilyProperties(pd, &n, nil)
	if n > 0 {
		qf := make([]QueueFamilyProperties, n)
		vk.GetPhysicalDeviceQueueFamilyProperties(pd, &n, &qf[0])
		for q := range qf[:n] {
			if qf[q].QueueFlags&queueCompute != 0 && qf[q].QueueCount > 0 {
				in.ComputeQueue = q
				break
			}
		}
	}
	return in, *mem
}

// Devices lists the physical devices the loader reports. It fails with
// ErrNoLoader when libvulkan cannot be loaded and ErrNoDevice when no driver
// answers.
func Devices() ([]Info, error) {
	if err := instance(); err != nil {
		return nil, err
	}
	out := make([]Info, len(physDevs))
	for i, pd := range physDevs {
		out[i], _ = describe(i, pd)
	}
	return out, nil
}

// Device is an opened logical device with one compute queue. It is not safe
// for concurrent use: callers serialise (the model does).
type Device struct {
	info  Info
	mem   PhysicalDeviceMemoryProperties
	pd    uintptr
	dev   uintptr
	queue uintptr

	// TiledMatMul selects the shared-memory tiled kernel for products of more
	// than MatvecRows rows. It is off on CPU drivers, whose workgroup
	// barriers are expensive, where matvec in 8-row slices is faster.
	TiledMatMul bool

	devType, stagingType int  // memory type indices for device buffers and staging
	mappable             bool // device buffers are host-visible and coherent

	cmdPool uint64
	oneShot *Stream // for staging copies

	descPools []uint64
	sets      map[setKey]uint64
	kernels   map[string]*Kernel
	buffers   map[*Buffer]struct{}
}

// Open opens device index (as listed by Devices), or the best one when index
// is negative: discrete, then integrated, virtual, CPU.
func Open(index int) (*Device, error) {
	infos, err := Devices()
	if err != nil {
		return nil, err
	}
	var usable []Info
	for _, in := range infos {
		if in.ComputeQueue >= 0 {
			usable = append(usable, in)
		}
	}
	if len(usable) == 0 {
		return nil, fmt.Errorf("%w: the Vulkan loader found %d device(s), none with a compute queue (install a driver, e.g. apt-get install mesa-vulkan-drivers)", ErrNoDevice, len(infos))
	}
	var pick Info
	if index >= 0 {
		if index >= len(infos) {
			return nil, fmt.Errorf("%w: vulkan:%d requested, but there are only %d device(s) (see latentmas devices)", ErrNoDevice, index, len(infos))
		}
		pick = infos[index]
		if pick.ComputeQueue < 0 {
			return nil, fmt.Errorf("%w: vulkan:%d (%s) has no compute queue", ErrNoDevice, index, pick.Name)
		}
	} else {
		rank := map[string]int{"discrete": 0, "integrated": 1, "virtual": 2, "cpu": 3, "other": 4}
		sort.SliceStable(usable, func(a, b int) bool { return rank[usable[a].Type] < rank[usable[b].Type] })
		pick = usable[0]
	}
	d := &Device{info: pick, pd: physDevs[pick.Index], TiledMatMul: pick.Type != "cpu", sets: map[setKey]uint64{}, kernels: map[string]*Kernel{}, buffers: map[*Buffer]struct{}{}}
	_, d.mem = describe(pick.Index, d.pd)
	if err := d.init(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

func (d *Device) init() error {
	prio := new(float32)
	*prio = 1
	qci := &DeviceQueueCreateInfo{SType: stDeviceQueueCreateInfo, QueueFamilyIndex: uint32(d.info.ComputeQueue), QueueCount: 1, PQueuePriorities: unsafe.Pointer(prio)}
	dci := &DeviceCreateInfo{SType: stDeviceCreateInfo, QueueCreateInfoCount: 1, PQueueCreateInfos: unsafe.Pointer(qci)}
	if err := check("vkCreateDevice", vk.CreateDevice(d.pd, dci, nil, &d.dev)); err != nil {
		return err
	}
	runtime.KeepAlive(qci)
	runtime.KeepAlive(prio)
	vk.GetDeviceQueue(d.dev, uint32(d.info.ComputeQueue), 0, &d.queue)
	d.devType, d.stagingType = -1, -1
	// Device buffers: device-local, preferring a type the CPU can also map.
	best := -1
	for t := 0; t < int(d.mem.MemoryTypeCount); t++ {
		f := d.mem.MemoryTypes[t].PropertyFlags
		if f&memDeviceLocal == 0 {
			continue
		}
		score := 1
		if f&(memHostVisible|memHostCoherent) == memHostVisible|memHostCoherent {
			score = 2
		}
		if score > best {
			best, d.devType = score, t
		}
	}
	d.mappable = best == 2
	// Staging: host-visible and coherent, preferring cached (fast readback).
	best = -1
	for t := 0; t < int(d.mem.MemoryTypeCount); t++ {
		f := d.mem.MemoryTypes[t].PropertyFlags
		if f&(memHostVisible|memHostCoherent) != memHostVisible|memHostCoherent {
			continue
		}
		score := 1
		if f&memHostCached != 0 {
			score = 2
		}
		if score > best {
			best, d.stagingType = score, t
		}
	}
	if d.stagingType < 0 {
		return fmt.Errorf("vulkan: %s has no host-visible coherent memory", d.info.Name)
	}
	if d.devType < 0 { // no device-local type at all: use the staging type for everything
		d.devType, d.mappable = d.stagingType, true
	}
	pci := &CommandPoolCreateInfo{SType: stCommandPoolCreateInfo, Flags: cmdPoolResetCommandBuffer, QueueFamilyIndex: uint32(d.info.ComputeQueue)}
	if err := check("vkCreateCommandPool", vk.CreateCommandPool(d.dev, pci, nil, &d.cmdPool)); err != nil {
		return err
	}
	s, err := d.NewStream()
	if err != nil {
		return err
	}
	d.oneShot = s
	return nil
}

// Info describes the device.
func (d *Device) Info() Info { return d.info }

// Mappable reports whether device buffers are host-visible, so uploads and
// downloads are plain memory copies (CPU drivers, UMA GPUs, ReBAR).
func (d *Device) Mappable() bool { return d.mappable }

// Close waits for the device to go idle and frees everything made on it.
func (d *Device) Close() {
	if d == nil || d.dev == 0 {
		return
	}
	vk.DeviceWaitIdle(d.dev)
	for b := range d.buffers {
		b.Free()
	}
	for _, k := range d.kernels {
		k.destroy()
	}
	for _, p := range d.descPools {
		vk.DestroyDescriptorPool(d.dev, p, nil)
	}
	if d.oneShot != nil {
		d.oneShot.Close()
	}
	if d.cmdPool != 0 {
		vk.DestroyCommandPool(d.dev, d.cmdPool, nil)
	}
	vk.DestroyDevice(d.dev, nil)
	d.dev = 0
}
