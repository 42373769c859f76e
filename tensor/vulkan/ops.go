//go:build vulkan

package vulkan

import (
	"fmt"
	"math"

	"github.com/latentmas/latentmas/tensor"
)

// The ops below record the kernels of package tensor into a stream. Buffers
// hold float32 activations; offsets and sizes are in elements. Each op
// orders after everything recorded before it (see Stream).

// Mat is a weight matrix uploaded in its stored dtype, as slabs of whole
// rows no larger than the device's maxStorageBufferRange (lavapipe's is 128
// MiB, less than a 150k-row embedding).
type Mat struct {
	Slabs      []Slab
	DType      tensor.DType
	Rows, Cols int
}

// Slab is rows [Row, Row+Rows) of a Mat.
type Slab struct {
	Buf       *Buffer
	Row, Rows int
}

// Free releases the matrix's buffers.
func (m *Mat) Free() {
	for _, s := range m.Slabs {
		s.Buf.Free()
	}
	m.Slabs = nil
}

// Bytes is the device memory the matrix occupies.
func (m *Mat) Bytes() int64 {
	var n int64
	for _, s := range m.Slabs {
		n += s.Buf.Size()
	}
	return n
}

// UploadMat copies a weight matrix to the device, keeping its dtype.
func (d *Device) UploadMat(m *tensor.Mat) (*Mat, error) {
	if err := m.Check(); err != nil {
		return nil, err
	}
	out := &Mat{DType: m.DType, Rows: m.Rows, Cols: m.Cols}
	rowBytes := int64(m.Cols * m.DType.Size())
	per := m.Rows
	if lim := int64(d.info.MaxStorageBufferRange); lim > 0 && rowBytes > 0 {
		per = int(min(int64(m.Rows), (lim-16)/rowBytes))
	}
	if per < 1 {
		return nil, fmt.Errorf("vulkan: a %d-column %v row exceeds maxStorageBufferRange", m.Cols, m.DType)
	}
	for r0 := 0; r0 < m.Rows || r0 == 0; r0 += per {
		n := min(per, m.Rows-r0)
		b, err := d.NewBuffer(int64(n) * rowBytes)
		if err == nil {
			if m.DType == tensor.F32 {
				err = b.WriteF32(0, m.F32[r0*m.Cols:(r0+n)*m.Cols])
			} else {
				err = b.WriteU16(0, m.U16[r0*m.Cols:(r0+n)*m.Cols])
			}
			out.Slabs = append(out.Slabs, Slab{Buf: b, Row: r0, Rows: n})
		}
		if err != nil {
			out.Free()
			return nil, err
		}
		if m.Rows == 0 {
			break
		}
	}
	return out, nil
}

// UploadF32 copies v into a new buffer.
func (d *Device) UploadF32(v []float32) (*Buffer, error) {
	b, err := d.NewBuffer(int64(4 * len(v)))
	if err != nil {
		return nil, err
	}
	if err := b.WriteF32(0, v); err != nil {
		b.Free()
		return nil, err
	}
	return b, nil
}

// MatvecRows is the largest row count MatMul computes with one pass of the
// matvec kernel (each weight read once per 8 rows). Above it the tiled
// kernel runs when Device.TiledMatMul is set, else matvec in slices of 8.
const MatvecRows = 8

// matvecCols is the number of output columns one matvec workgroup computes:
// many on CPU drivers, where each workgroup has a fixed cost, few on GPUs,
// which want many workgroups in flight.
func (d *Device) matvecCols() int {
	if d.info.Type == "cpu" {
		return 64
	}
	return 4
}

// grid spreads count workgroups over x and y within the device limit.
func (s *Stream) grid(count int) (uint32, uint32) {
	lim := int(s.d.info.MaxWorkGroupCount[0])
	if count <= lim {
		return uint32(count), 1
	}
	return uint32(lim), uint32((count + lim - 1) / lim)
}

func (s *Stream) kernel(name string, bufs, push int) *Kernel {
	if s.err != nil {
		return nil
	}
	k, err := s.d.Kernel(name, bufs, push)
	if err != nil {
		s.err = err
	}
	return k
}

func (s *Stream) fail(format string, a ...any) {
	if s.err == nil {
		s.err = fmt.Errorf("vulkan: "+format, a...)
	}
}

// MatMul records y[t, :] (+)= x[t, :]·Wᵀ (+ bias) for t < m: x is [m,
// w.Cols] at xOff, y is [m, w.Rows] at yOff. bias (w.Rows values at bOff) is
// optional; accumulate adds to y instead of overwriting it.
func (s *Stream) MatMul(y *Buffer, yOff int, x *Buffer, xOff int, m int, w *Mat, bias *Buffer, bOff int, accumulate bool) {
	if m == 0 || w.Rows == 0 {
		return
	}
	dt := map[tensor.DType]string{tensor.F32: "f32", tensor.BF16: "bf16", tensor.F16: "f16"}[w.DType]
	if dt == "" {
		s.fail("matmul: unsupported dtype %v", w.DType)
		return
	}
	var flags uint32
	if accumulate {
		flags |= 1
	}
	if bias != nil {
		flags |= 2
	} else {
		bias = y
	}
	tiled := m > MatvecRows && s.d.TiledMatMul
	name, words := "matvec_"+dt, 10
	if tiled {
		name, words = "matmul_"+dt, 9
	}
	k := s.kernel(name, 4, words)
	cols := s.d.matvecCols()
	if k == nil {
		return
	}
	for i, sl := range w.Slabs {
		if i > 0 {
			s.Concurrent() // slabs write disjoint columns of y
		}
		push := []uint32{uint32(sl.Rows), uint32(w.Cols), uint32(m), 0, uint32(xOff), uint32(yOff + sl.Row), uint32(bOff + sl.Row), flags, uint32(w.Rows), uint32(cols)}
		if !tiled {
			gx, gy := s.grid((sl.Rows + cols - 1) / cols)
			s.Dispatch(k, []*Buffer{sl.Buf, x, y, bias}, push, gx, gy, uint32((m+MatvecRows-1)/MatvecRows))
		} else {
			s.Dispatch(k, []*Buffer{sl.Buf, x, y, bias}, push[:9], uint32((sl.Rows+15)/16), uint32((m+15)/16), 1)
		}
	}
}

// RMSNorm records y[r] = rmsnorm(x[r])·w for rows of width d (y may be x).
func (s *Stream) RMSNorm(y *Buffer, yOff int, x *Buffer, xOff, rows, d int, w *Buffer, wOff int, eps float32) {
	k := s.kernel("rmsnorm", 3, 6)
	if k == nil || rows == 0 {
		return
	}
	gx, gy := s.grid(rows)
	s.Dispatch(k, []*Buffer{x, y, w}, []uint32{uint32(rows), uint32(d), uint32(xOff), uint32(yOff), uint32(wOff), math.Float32bits(eps)}, gx, gy, 1)
}

// Rope records the rotary embedding of T rows (stride rowStride) of heads
// heads of size hd at xOff, with cos tables at tab[0:T*hd/2] and sin tables
// at tab[sinOff:].
func (s *Stream) Rope(x *Buffer, xOff, T, heads, hd, rowStride int, tab *Buffer, sinOff int) {
	k := s.kernel("rope", 2, 6)
	if k == nil || T == 0 {
		return
	}
	gx, gy := s.grid((T*heads*hd/2 + 63) / 64)
	s.Dispatch(k, []*Buffer{x, tab}, []uint32{uint32(T), uint32(heads), uint32(hd), uint32(rowStride), uint32(xOff), uint32(sinOff)}, gx, gy, 1)
}

// AttnArgs describes one sequence's attention: n new query rows at qOff of
// q ([n, H*hd]), its cache's keys at kOff and values at vOff of kv (each
// [past+n, KVH*hd], the new positions already written), output rows at oOff.
type AttnArgs struct {
	Q, KV, Out, Scratch    *Buffer
	QOff, KOff, VOff, OOff int
	N, Past, H, KVH, HD    int
}

// AttentionScratch is the scratch size (floats) Attention needs.
func AttentionScratch(n, past, h int) int { return n * h * (past + n) }

// Attention records causal grouped-query attention for one sequence.
func (s *Stream) Attention(a AttnArgs) {
	k := s.kernel("attention", 4, 11)
	if k == nil || a.N == 0 {
		return
	}
	if a.HD > 256 || a.H%a.KVH != 0 {
		s.fail("attention: head dim %d > 256 or %d heads not a multiple of %d KV heads", a.HD, a.H, a.KVH)
		return
	}
	if need := int64(4 * AttentionScratch(a.N, a.Past, a.H)); a.Scratch.Size() < need {
		s.fail("attention: scratch of %d bytes, need %d", a.Scratch.Size(), need)
		return
	}
	scale := float32(1 / math.Sqrt(float64(a.HD)))
	gx, gy := s.grid(a.N * a.H)
	s.Dispatch(k, []*Buffer{a.Q, a.KV, a.Out, a.Scratch}, []uint32{uint32(a.N), uint32(a.Past), uint32(a.H), uint32(a.KVH), uint32(a.HD),
		uint32(a.QOff), uint32(a.OOff), uint32(a.KOff), uint32(a.VOff), uint32(a.Past + a.N), math.Float32bits(scale)}, gx, gy, 1)
}

// SiLUMul records g[i] = silu(g[i])·u[i] for i < n.
func (s *Stream) SiLUMul(g *Buffer, gOff int, u *Buffer, uOff, n int) {
	k := s.kernel("silumul", 2, 3)
	if k == nil || n == 0 {
		return
	}
	gx, gy := s.grid((n + 63) / 64)
	s.Dispatch(k, []*Buffer{g, u}, []uint32{uint32(n), uint32(gOff), uint32(uOff)}, gx, gy, 1)
}

// CopyF32 records dst[dOff:dOff+n] = src[sOff:sOff+n] (a compute copy, so it
// orders like the other ops).
func (s *Stream) CopyF32(dst *Buffer, dOff int, src *Buffer, sOff, n int) {
	k := s.kernel("copy", 2, 3)
	if k == nil || n == 0 {
		return
	}
	gx, gy := s.grid((n + 63) / 64)
	s.Dispatch(k, []*Buffer{src, dst}, []uint32{uint32(n), uint32(sOff), uint32(dOff)}, gx, gy, 1)
}
