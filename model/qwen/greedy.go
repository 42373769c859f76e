package qwen

// Argmax returns the index of the largest value (the first on ties, as
// torch.argmax does).
func Argmax(x []float32) int {
	best := 0
	for i, v := range x {
		if v > x[best] {
			best = i
		}
	}
	return best
}

// Greedy appends prompt to cache and decodes up to n tokens by argmax over
// the full vocabulary, stopping early after any id in stop. It returns the
// new ids (including a stop id that ended decoding).
func (m *Model) Greedy(c *Cache, prompt []int, n int, stop map[int]bool) ([]int, error) {
	var out []int
	in := prompt
	for len(out) < n {
		o, err := m.Forward([]Seq{{Cache: c, IDs: in}}, Request{Logits: LogitsLast})
		if err != nil {
			return out, err
		}
		id := Argmax(o.LogitsRow(0))
		out = append(out, id)
		if stop[id] {
			break
		}
		in = []int{id}
	}
	return out, nil
}
