//go:build vulkan

package vulkan

import (
	"fmt"
	"runtime"
	"unsafe"
)

// Buffer is a storage buffer in device memory: device-local where the device
// has it. When that memory is also host-visible (CPU drivers, UMA, ReBAR) it
// stays mapped and reads and writes are memory copies; otherwise they go
// through a staging buffer and a copy command.
type Buffer struct {
	d        *Device
	buf, mem uint64
	size     int64
	ptr      unsafe.Pointer // mapped memory, nil when not host-visible
}

// NewBuffer allocates size bytes (rounded up to a multiple of 4) of device
// memory usable as a storage buffer and as a copy source and destination.
func (d *Device) NewBuffer(size int64) (*Buffer, error) {
	return d.newBuffer(size, d.devType, d.mappable)
}

func (d *Device) newBuffer(size int64, memType int, mapIt bool) (*Buffer, error) {
	if size < 0 {
		return nil, fmt.Errorf("vulkan: negative buffer size %d", size)
	}
	size = max((size+15)&^15, 16)
	if r := uint64(d.info.MaxStorageBufferRange); uint64(size) > r && r != 0 {
		return nil, fmt.Errorf("vulkan: a %d-byte buffer exceeds %s's maxStorageBufferRange %d", size, d.info.Name, r)
	}
	b := &Buffer{d: d, size: size}
	ci := &BufferCreateInfo{SType: stBufferCreateInfo, Size: uint64(size), Usage: bufUsageStorage | bufUsageTransferSrc | bufUsageTransferDst}
	if err := check("vkCreateBuffer", vk.CreateBuffer(d.dev, ci, nil, &b.buf)); err != nil {
		return nil, err
	}
	req := new(MemoryRequirements)
	vk.GetBufferMemoryRequirements(d.dev, b.buf, req)
	if req.MemoryTypeBits&(1<<memType) == 0 {
		// The preferred type does not suit this buffer: take any allowed type
		// with the same flags, else any allowed type at all.
		want := d.mem.MemoryTypes[memType].PropertyFlags
		memType = -1
		for t := 0; t < int(d.mem.MemoryTypeCount); t++ {
			if req.MemoryTypeBits&(1<<t) != 0 && (memType < 0 || d.mem.MemoryTypes[t].PropertyFlags&want == want) {
				memType = t
			}
		}
		f := d.mem.MemoryTypes[max(memType, 0)].PropertyFlags
		mapIt = mapIt && f&(memHostVisible|memHostCoherent) == memHostVisible|memHostCoherent
	}
	if memType < 0 {
		vk.DestroyBuffer(d.dev, b.buf, nil)
		return nil, fmt.Errorf("vulkan: no memory type for a storage buffer")
	}
	ai := &MemoryAllocateInfo{SType: stMemoryAllocateInfo, AllocationSize: req.Size, MemoryTypeIndex: uint32(memType)}
	if err := check(fmt.Sprintf("vkAllocateMemory(%d bytes)", req.Size), vk.AllocateMemory(d.dev, ai, nil, &b.mem)); err != nil {
		vk.DestroyBuffer(d.dev, b.buf, nil)
		return nil, err
	}
	if err := check("vkBindBufferMemory", vk.BindBufferMemory(d.dev, b.buf, b.mem, 0)); err != nil {
		b.Free()
		return nil, err
	}
	if mapIt {
		if err := check("vkMapMemory", vk.MapMemory(d.dev, b.mem, 0, wholeSize, 0, &b.ptr)); err != nil {
			b.Free()
			return nil, err
		}
	}
	d.buffers[b] = struct{}{}
	return b, nil
}

// Size is the buffer's size in bytes.
func (b *Buffer) Size() int64 { return b.size }

// Free releases the buffer (and forgets descriptor sets naming it).
func (b *Buffer) Free() {
	if b == nil || b.buf == 0 {
		return
	}
	d := b.d
	for k, s := range d.sets {
		for _, h := range k.bufs {
			if h == b.buf {
				delete(d.sets, k)
				_ = s // sets return to their pool when it is destroyed
				break
			}
		}
	}
	if b.ptr != nil {
		vk.UnmapMemory(d.dev, b.mem)
		b.ptr = nil
	}
	vk.DestroyBuffer(d.dev, b.buf, nil)
	vk.FreeMemory(d.dev, b.mem, nil)
	b.buf, b.mem = 0, 0
	delete(d.buffers, b)
}

func (b *Buffer) bounds(off int64, n int) error {
	if off < 0 || off+int64(n) > b.size {
		return fmt.Errorf("vulkan: access [%d, %d) outside a %d-byte buffer", off, off+int64(n), b.size)
	}
	return nil
}

// mapped returns the buffer's memory as bytes.
func (b *Buffer) mapped() []byte { return unsafe.Slice((*byte)(b.ptr), b.size) }

// Write copies src into the buffer at byte offset off. It completes before
// returning; it must not race with commands using the buffer.
func (b *Buffer) Write(off int64, src []byte) error {
	if err := b.bounds(off, len(src)); err != nil {
		return err
	}
	if len(src) == 0 {
		return nil
	}
	if b.ptr != nil {
		copy(b.mapped()[off:], src)
		return nil
	}
	return b.d.staged(b, off, src, nil)
}

// Read copies len(dst) bytes from byte offset off of the buffer.
func (b *Buffer) Read(off int64, dst []byte) error {
	if err := b.bounds(off, len(dst)); err != nil {
		return err
	}
	if len(dst) == 0 {
		return nil
	}
	if b.ptr != nil {
		copy(dst, b.mapped()[off:])
		return nil
	}
	return b.d.staged(b, off, nil, dst)
}

// WriteF32 writes v at element offset off (in float32 units).
func (b *Buffer) WriteF32(off int, v []float32) error {
	return b.Write(int64(off)*4, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)))
}

// ReadF32 reads len(v) floats from element offset off.
func (b *Buffer) ReadF32(off int, v []float32) error {
	return b.Read(int64(off)*4, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v)))
}

// WriteU16 writes v at element offset off (in uint16 units).
func (b *Buffer) WriteU16(off int, v []uint16) error {
	return b.Write(int64(off)*2, unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 2*len(v)))
}

const stagingChunk = 32 << 20

// staged moves data between host memory and a buffer the CPU cannot map,
// through a reusable host-visible staging buffer, chunk by chunk.
func (d *Device) staged(b *Buffer, off int64, src, dst []byte) error {
	n := max(len(src), len(dst))
	st, err := d.newBuffer(int64(min(n, stagingChunk)), d.stagingType, true)
	if err != nil {
		return err
	}
	defer st.Free()
	for done := 0; done < n; {
		c := min(n-done, stagingChunk)
		if src != nil {
			copy(st.mapped(), src[done:done+c])
			d.oneShot.Copy(st, b, 0, off+int64(done), int64(c))
		} else {
			d.oneShot.Copy(b, st, off+int64(done), 0, int64(c))
		}
		if err := d.oneShot.Run(); err != nil {
			return err
		}
		if dst != nil {
			copy(dst[done:done+c], st.mapped())
		}
		done += c
	}
	runtime.KeepAlive(src)
	return nil
}
