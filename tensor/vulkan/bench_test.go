//go:build vulkan

package vulkan

import (
	"math/rand/v2"
	"testing"

	"github.com/latentmas/latentmas/tensor"
)

func benchMatMul(b *testing.B, m, n, k int) {
	d := testDevice(b)
	s, err := d.NewStream()
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	r := rand.New(rand.NewPCG(1, 2))
	w, err := d.UploadMat(randMat(r, tensor.BF16, n, k))
	if err != nil {
		b.Fatal(err)
	}
	defer w.Free()
	x, y := upload(b, d, randVec(r, m*k, 1)), upload(b, d, make([]float32, m*n))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.MatMul(y, 0, x, 0, m, w, nil, 0, false)
		run(b, s)
	}
	b.ReportMetric(float64(w.Bytes())*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
}

func BenchmarkMatvecVocab64(b *testing.B)   { benchMatMul(b, 1, 151936, 64) }
func BenchmarkMatvecVocab1024(b *testing.B) { benchMatMul(b, 1, 151936, 1024) }
func BenchmarkMatvec1024x3072(b *testing.B) { benchMatMul(b, 1, 3072, 1024) }
func BenchmarkMatmul20Vocab64(b *testing.B) { benchMatMul(b, 20, 151936, 64) }
