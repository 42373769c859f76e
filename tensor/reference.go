package tensor

import "math"

// The functions in this file are plain, obviously-correct versions of the
// package's ops, in float64 where it helps, kept for tests: every optimised
// op is compared against them.

// MatMulRef is the reference for MatMul.
func MatMulRef(y, x []float32, m int, w *Mat) {
	row := make([]float32, w.Cols)
	for r := 0; r < w.Rows; r++ {
		w.Row(r, row)
		for t := 0; t < m; t++ {
			var s float64
			for k, v := range row {
				s += float64(v) * float64(x[t*w.Cols+k])
			}
			y[t*w.Rows+r] = float32(s)
		}
	}
}

// AttentionRef is the reference for Attention.Compute on one segment.
func AttentionRef(s AttnSeg, H, KV, hd int) {
	rep := H / KV
	for t := 0; t < s.N; t++ {
		for h := 0; h < H; h++ {
			g := h / rep
			off, ld := s.at(g, hd, KV*hd)
			q := s.Q[(t*H+h)*hd : (t*H+h+1)*hd]
			ctx := s.Past + t + 1
			sc := make([]float64, ctx)
			mx := math.Inf(-1)
			for j := 0; j < ctx; j++ {
				var d float64
				for i := 0; i < hd; i++ {
					d += float64(q[i]) * float64(s.K[off+j*ld+i])
				}
				sc[j] = d / math.Sqrt(float64(hd))
				mx = math.Max(mx, sc[j])
			}
			var sum float64
			for j := range sc {
				sc[j] = math.Exp(sc[j] - mx)
				sum += sc[j]
			}
			out := s.Out[(t*H+h)*hd : (t*H+h+1)*hd]
			for i := 0; i < hd; i++ {
				var o float64
				for j := 0; j < ctx; j++ {
					o += sc[j] / sum * float64(s.V[off+j*ld+i])
				}
				out[i] = float32(o)
			}
		}
	}
}

// RMSNormRef is the reference for RMSNorm on one row.
func RMSNormRef(x, w []float32, eps float64) []float32 {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	inv := 1 / math.Sqrt(ss/float64(len(x))+eps)
	out := make([]float32, len(x))
	for i, v := range x {
		out[i] = float32(float64(v) * inv * float64(w[i]))
	}
	return out
}

// RopeRef is the reference for ApplyRope on one head at position pos, with
// angles in float64.
func RopeRef(x []float32, pos int, theta float64) []float32 {
	hd := len(x)
	half := hd / 2
	out := make([]float32, hd)
	for i := 0; i < half; i++ {
		a := float64(pos) / math.Pow(theta, float64(2*i)/float64(hd))
		c, s := math.Cos(a), math.Sin(a)
		out[i] = float32(float64(x[i])*c - float64(x[i+half])*s)
		out[i+half] = float32(float64(x[i+half])*c + float64(x[i])*s)
	}
	return out
}
