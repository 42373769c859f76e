package golden

import "testing"

// TopK is a recorded top-k list per position: ids and their logits.
type TopK struct {
	IDs    [][]int     `json:"ids"`
	Values [][]float32 `json:"values"`
}

// PromptIDs returns the token ids of a named golden prompt.
func (s *Set) PromptIDs(t testing.TB, name string) []int {
	t.Helper()
	var p struct {
		IDs []int `json:"ids"`
	}
	if err := s.Decode("prompts."+name, &p); err != nil {
		t.Fatal(err)
	}
	return p.IDs
}

// Check reports an error when got differs from want by more than
// atol + rtol·|want| anywhere.
func Check(t testing.TB, what string, got, want []float32, atol, rtol float64) {
	t.Helper()
	d, err := Compare(got, want, atol, rtol)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if d.Exceeds {
		t.Errorf("%s: element %d = %g, want %g (max |diff| %.3g, tol %g+%g·|want|)", what, d.Index, d.Got, d.Want, d.MaxAbs, atol, rtol)
	}
}

// CheckTopK verifies a full logits row against a recorded top-k list: the
// recorded ids have the recorded values (within atol), and no other id beats
// the smallest recorded value — comparing by value, since near-ties may
// reorder the list.
func CheckTopK(t testing.TB, what string, logits []float32, ids []int, values []float32, atol float32) {
	t.Helper()
	in := map[int]bool{}
	minv := values[0]
	for i, id := range ids {
		in[id] = true
		minv = min(minv, values[i])
		if d := logits[id] - values[i]; d > atol || d < -atol {
			t.Errorf("%s: logit[%d] = %g, want %g", what, id, logits[id], values[i])
		}
	}
	for id, v := range logits {
		if !in[id] && v > minv+atol {
			t.Errorf("%s: id %d has logit %g above the recorded top-%d minimum %g", what, id, v, len(ids), minv)
			return
		}
	}
}
