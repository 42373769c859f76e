//go:build vulkan

package vulkan

import (
	"embed"
	"fmt"
	"runtime"
	"unsafe"
)

//go:embed shaders/*.spv
var spirv embed.FS

// maxBindings is the most storage buffers one kernel binds.
const maxBindings = 6

// Kernel is a compute pipeline built from one embedded SPIR-V module: its
// storage buffers are bindings 0..Buffers-1 of set 0, its parameters are
// push constants.
type Kernel struct {
	d                   *Device
	Name                string
	Buffers, PushWords  int
	mod, dsl, lay, pipe uint64
}

// Kernel returns the pipeline for the embedded shader shaders/NAME.spv,
// building it on first use.
func (d *Device) Kernel(name string, buffers, pushWords int) (*Kernel, error) {
	if k, ok := d.kernels[name]; ok {
		if k.Buffers != buffers || k.PushWords != pushWords {
			return nil, fmt.Errorf("vulkan: kernel %s used with %d buffers/%d push words, built with %d/%d", name, buffers, pushWords, k.Buffers, k.PushWords)
		}
		return k, nil
	}
	if buffers > maxBindings || pushWords*4 > int(max(d.info.MaxPushConstantsSize, 128)) {
		return nil, fmt.Errorf("vulkan: kernel %s: too many buffers or push constants", name)
	}
	code, err := spirv.ReadFile("shaders/" + name + ".spv")
	if err != nil {
		return nil, fmt.Errorf("vulkan: no embedded shader %q", name)
	}
	k := &Kernel{d: d, Name: name, Buffers: buffers, PushWords: pushWords}
	words := make([]uint32, len(code)/4) // 4-byte aligned copy
	copy(unsafe.Slice((*byte)(unsafe.Pointer(&words[0])), len(code)), code)
	mci := &ShaderModuleCreateInfo{SType: stShaderModuleCreateInfo, CodeSize: uintptr(len(code)), PCode: unsafe.Pointer(&words[0])}
	if err := check("vkCreateShaderModule("+name+")", vk.CreateShaderModule(d.dev, mci, nil, &k.mod)); err != nil {
		return nil, err
	}
	runtime.KeepAlive(words)
	binds := make([]DescriptorSetLayoutBinding, buffers)
	for i := range binds {
		binds[i] = DescriptorSetLayoutBinding{Binding: uint32(i), DescriptorType: descStorageBuffer, DescriptorCount: 1, StageFlags: stageCompute}
	}
	lci := &DescriptorSetLayoutCreateInfo{SType: stDescriptorSetLayoutCreate, BindingCount: uint32(buffers)}
	if buffers > 0 {
		lci.PBindings = unsafe.Pointer(&binds[0])
	}
	if err := check("vkCreateDescriptorSetLayout", vk.CreateDescriptorSetLayout(d.dev, lci, nil, &k.dsl)); err != nil {
		k.destroy()
		return nil, err
	}
	runtime.KeepAlive(binds)
	pr := &PushConstantRange{StageFlags: stageCompute, Size: uint32(4 * pushWords)}
	plci := &PipelineLayoutCreateInfo{SType: stPipelineLayoutCreateInfo, SetLayoutCount: 1, PSetLayouts: unsafe.Pointer(&k.dsl)}
	if pushWords > 0 {
		plci.PushConstantRangeCount, plci.PPushConstantRanges = 1, unsafe.Pointer(pr)
	}
	if err := check("vkCreatePipelineLayout", vk.CreatePipelineLayout(d.dev, plci, nil, &k.lay)); err != nil {
		k.destroy()
		return nil, err
	}
	runtime.KeepAlive(pr)
	cpci := &ComputePipelineCreateInfo{SType: stComputePipelineCreateInfo, Layout: k.lay, BasePipelineIndex: -1,
		Stage: PipelineShaderStageCreateInfo{SType: stPipelineShaderStageCreate, Stage: stageCompute, Module: k.mod, PName: cstr("main")}}
	if err := check("vkCreateComputePipelines("+name+")", vk.CreateComputePipelines(d.dev, 0, 1, cpci, nil, &k.pipe)); err != nil {
		k.destroy()
		return nil, err
	}
	runtime.KeepAlive(cpci)
	d.kernels[name] = k
	return k, nil
}

func (k *Kernel) destroy() {
	d := k.d
	if k.pipe != 0 {
		vk.DestroyPipeline(d.dev, k.pipe, nil)
	}
	if k.lay != 0 {
		vk.DestroyPipelineLayout(d.dev, k.lay, nil)
	}
	if k.dsl != 0 {
		vk.DestroyDescriptorSetLayout(d.dev, k.dsl, nil)
	}
	if k.mod != 0 {
		vk.DestroyShaderModule(d.dev, k.mod, nil)
	}
	*k = Kernel{d: d, Name: k.Name}
}

// setKey identifies a descriptor set: a kernel's layout bound to buffers
// (whole buffers; kernels take element offsets as push constants), so a
// steady-state forward pass reuses the same few sets.
type setKey struct {
	k    *Kernel
	bufs [maxBindings]uint64
}

func (d *Device) descriptorSet(k *Kernel, bufs []*Buffer) (uint64, error) {
	key := setKey{k: k}
	for i, b := range bufs {
		if b == nil || b.buf == 0 {
			return 0, fmt.Errorf("vulkan: %s: buffer %d is nil or freed", k.Name, i)
		}
		key.bufs[i] = b.buf
	}
	if s, ok := d.sets[key]; ok {
		return s, nil
	}
	var set uint64
	alloc := func() int32 {
		if len(d.descPools) == 0 {
			return errOutOfPoolMemory
		}
		ai := &DescriptorSetAllocateInfo{SType: stDescriptorSetAllocateInfo, DescriptorPool: d.descPools[len(d.descPools)-1], DescriptorSetCount: 1, PSetLayouts: unsafe.Pointer(&k.dsl)}
		return vk.AllocateDescriptorSets(d.dev, ai, &set)
	}
	r := alloc()
	if r == errOutOfPoolMemory || r == errFragmentedPool {
		const sets = 1024
		size := &DescriptorPoolSize{Type: descStorageBuffer, DescriptorCount: sets * maxBindings}
		pci := &DescriptorPoolCreateInfo{SType: stDescriptorPoolCreateInfo, MaxSets: sets, PoolSizeCount: 1, PPoolSizes: unsafe.Pointer(size)}
		var pool uint64
		if err := check("vkCreateDescriptorPool", vk.CreateDescriptorPool(d.dev, pci, nil, &pool)); err != nil {
			return 0, err
		}
		runtime.KeepAlive(size)
		d.descPools = append(d.descPools, pool)
		r = alloc()
	}
	if err := check("vkAllocateDescriptorSets", r); err != nil {
		return 0, err
	}
	infos := make([]DescriptorBufferInfo, len(bufs))
	writes := make([]WriteDescriptorSet, len(bufs))
	for i, b := range bufs {
		infos[i] = DescriptorBufferInfo{Buffer: b.buf, Range: wholeSize}
		writes[i] = WriteDescriptorSet{SType: stWriteDescriptorSet, DstSet: set, DstBinding: uint32(i), DescriptorCount: 1,
			DescriptorType: descStorageBuffer, PBufferInfo: unsafe.Pointer(&infos[i])}
	}
	if len(writes) > 0 {
		vk.UpdateDescriptorSets(d.dev, uint32(len(writes)), &writes[0], 0, nil)
	}
	runtime.KeepAlive(infos)
	d.sets[key] = set
	return set, nil
}

// Stream records compute work into one command buffer; Run submits it and
// waits on a fence. Commands are ordered: each dispatch or copy sees the
// results of everything recorded before it (a memory barrier is inserted
// between them) unless Concurrent was called before it.
type Stream struct {
	d       *Device
	cb      uintptr
	fence   uint64
	open    bool
	dirty   bool // something recorded since the last barrier
	skip    bool // the next command needs no barrier
	err     error
	n       int // commands recorded
	barrier *MemoryBarrier
	set     *uint64
	push    []uint32
	region  *BufferCopy
}

// NewStream makes a command stream on the device.
func (d *Device) NewStream() (*Stream, error) {
	s := &Stream{d: d, barrier: &MemoryBarrier{SType: stMemoryBarrier}, set: new(uint64), push: make([]uint32, 32), region: new(BufferCopy)}
	ai := &CommandBufferAllocateInfo{SType: stCommandBufferAllocateInfo, CommandPool: d.cmdPool, CommandBufferCount: 1}
	if err := check("vkAllocateCommandBuffers", vk.AllocateCommandBuffers(d.dev, ai, &s.cb)); err != nil {
		return nil, err
	}
	fci := &FenceCreateInfo{SType: stFenceCreateInfo}
	if err := check("vkCreateFence", vk.CreateFence(d.dev, fci, nil, &s.fence)); err != nil {
		return nil, err
	}
	return s, nil
}

// Close frees the stream's fence (the command buffer goes with the pool).
func (s *Stream) Close() {
	if s.fence != 0 {
		vk.DestroyFence(s.d.dev, s.fence, nil)
		s.fence = 0
	}
}

func (s *Stream) begin() bool {
	if s.err != nil {
		return false
	}
	if !s.open {
		bi := &CommandBufferBeginInfo{SType: stCommandBufferBeginInfo, Flags: cmdBufferOneTimeSubmit}
		if s.err = check("vkBeginCommandBuffer", vk.BeginCommandBuffer(s.cb, bi)); s.err != nil {
			return false
		}
		s.open, s.dirty, s.skip, s.n = true, false, false, 0
	}
	return true
}

// Concurrent lets the next command run without waiting for the previous
// ones (they touch disjoint memory).
func (s *Stream) Concurrent() { s.skip = true }

func (s *Stream) order() {
	if s.dirty && !s.skip {
		s.memBarrier(pipeStageCompute|pipeStageTransfer, pipeStageCompute|pipeStageTransfer,
			accessShaderWrite|accessTransferWrite, accessShaderRead|accessShaderWrite|accessTransferRead|accessTransferWrite)
	}
	s.skip, s.dirty = false, true
	s.n++
}

func (s *Stream) memBarrier(src, dst, srcAccess, dstAccess uint32) {
	s.barrier.SrcAccessMask, s.barrier.DstAccessMask = srcAccess, dstAccess
	vk.CmdPipelineBarrier(s.cb, src, dst, 0, 1, s.barrier, 0, nil, 0, nil)
}

// Dispatch records kernel k over groups workgroups with the buffers bound in
// order and push as its push constants.
func (s *Stream) Dispatch(k *Kernel, bufs []*Buffer, push []uint32, gx, gy, gz uint32) {
	if !s.begin() {
		return
	}
	if len(bufs) != k.Buffers || len(push) > k.PushWords {
		s.err = fmt.Errorf("vulkan: %s takes %d buffers and %d push words, got %d and %d", k.Name, k.Buffers, k.PushWords, len(bufs), len(push))
		return
	}
	lim := s.d.info.MaxWorkGroupCount
	if gx == 0 || gy == 0 || gz == 0 {
		return
	}
	if gx > lim[0] || gy > lim[1] || gz > lim[2] {
		s.err = fmt.Errorf("vulkan: %s: %d×%d×%d workgroups exceed the device limit %v", k.Name, gx, gy, gz, lim)
		return
	}
	set, err := s.d.descriptorSet(k, bufs)
	if err != nil {
		s.err = err
		return
	}
	s.order()
	*s.set = set
	vk.CmdBindPipeline(s.cb, bindPointCompute, k.pipe)
	vk.CmdBindDescriptorSets(s.cb, bindPointCompute, k.lay, 0, 1, s.set, 0, nil)
	if k.PushWords > 0 {
		copy(s.push, push)
		clear(s.push[len(push):k.PushWords])
		vk.CmdPushConstants(s.cb, k.lay, stageCompute, 0, uint32(4*k.PushWords), unsafe.Pointer(&s.push[0]))
	}
	vk.CmdDispatch(s.cb, gx, gy, gz)
}

// Copy records a copy of size bytes between buffers.
func (s *Stream) Copy(src, dst *Buffer, srcOff, dstOff, size int64) {
	if !s.begin() || size == 0 {
		return
	}
	if err := src.bounds(srcOff, int(size)); err != nil {
		s.err = err
		return
	}
	if err := dst.bounds(dstOff, int(size)); err != nil {
		s.err = err
		return
	}
	s.order()
	*s.region = BufferCopy{SrcOffset: uint64(srcOff), DstOffset: uint64(dstOff), Size: uint64(size)}
	vk.CmdCopyBuffer(s.cb, src.buf, dst.buf, 1, s.region)
}

// Run submits what was recorded, waits for it to finish and makes the
// results visible to the host. It returns the first recording error, if any.
func (s *Stream) Run() error {
	if s.err != nil {
		err := s.err
		s.reset()
		return err
	}
	if !s.open {
		return nil
	}
	s.memBarrier(pipeStageCompute|pipeStageTransfer, pipeStageHost, accessShaderWrite|accessTransferWrite, accessHostRead)
	if err := check("vkEndCommandBuffer", vk.EndCommandBuffer(s.cb)); err != nil {
		s.reset()
		return err
	}
	cbs := &s.cb
	si := &SubmitInfo{SType: stSubmitInfo, CommandBufferCount: 1, PCommandBuffers: unsafe.Pointer(cbs)}
	err := check("vkQueueSubmit", vk.QueueSubmit(s.d.queue, 1, si, s.fence))
	if err == nil {
		err = check("vkWaitForFences", vk.WaitForFences(s.d.dev, 1, &s.fence, 1, ^uint64(0)))
	}
	runtime.KeepAlive(si)
	vk.ResetFences(s.d.dev, 1, &s.fence)
	s.reset()
	return err
}

func (s *Stream) reset() {
	if s.open {
		vk.ResetCommandBuffer(s.cb, 0)
	}
	s.open, s.err, s.dirty, s.skip = false, nil, false, false
}
