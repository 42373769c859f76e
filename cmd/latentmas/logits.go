package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/latentmas/latentmas/model/qwen"
)

func init() {
	register(command{
		name:    "logits",
		summary: "print per-position top-k logits and the last hidden state as JSON",
		run:     runLogits,
	})
}

// parseIDs parses "1,2,3" (spaces allowed).
func parseIDs(s string) ([]int, error) {
	var ids []int
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		id, err := strconv.Atoi(f)
		if err != nil {
			return nil, fmt.Errorf("--ids: %q is not an integer token id", f)
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return nil, fmt.Errorf("--ids: no token ids given")
	}
	return ids, nil
}

type idLogit struct {
	ID    int     `json:"id"`
	Logit float32 `json:"logit"`
}

// topK returns the k largest entries, ties broken by the lower id.
func topK(row []float32, k int) []idLogit {
	k = min(k, len(row))
	top := make([]idLogit, 0, k+1)
	for id, v := range row {
		if len(top) == k && v <= top[k-1].Logit {
			continue
		}
		i := sort.Search(len(top), func(i int) bool { return top[i].Logit < v })
		top = append(top, idLogit{})
		copy(top[i+1:], top[i:])
		top[i] = idLogit{id, v}
		if len(top) > k {
			top = top[:k]
		}
	}
	return top
}

func runLogits(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("logits", `Usage: latentmas logits --model DIR --ids 1,2,3 [--top 20]

Runs the prompt through the model in one forward pass and prints JSON: for
every position the top-k (id, logit) pairs, and the post-final-norm hidden
state of the last position (the vector LatentMAS realigns).`, stderr)
	model := fs.String("model", "", "checkpoint directory (config.json + *.safetensors)")
	idsFlag := fs.String("ids", "", "comma-separated prompt token ids")
	top := fs.Int("top", 20, "how many logits to print per position")
	threads := fs.Int("threads", 0, "worker threads (0 = all cores)")
	compute := fs.String("compute", "f32", computeHelp)
	hugePages := fs.Bool("hugepages", false, hugePagesHelp)
	device := fs.String("device", "cpu", deviceHelp)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *model == "" {
		return fmt.Errorf("--model is required")
	}
	ids, err := parseIDs(*idsFlag)
	if err != nil {
		return err
	}
	if *top < 1 {
		return fmt.Errorf("--top must be at least 1")
	}
	bf16Act, err := parseCompute(*compute)
	if err != nil {
		return err
	}
	m, err := loadQwen(*model, qwen.Options{Threads: *threads, BF16Activations: bf16Act, HugePages: *hugePages}, stderr)
	if err != nil {
		return err
	}
	defer m.Close()
	release, err := attachDevice(m, *device, stderr)
	if err != nil {
		return err
	}
	defer release()
	out, err := m.Forward([]qwen.Seq{{Cache: m.NewCache(len(ids)), IDs: ids}}, qwen.Request{Logits: qwen.LogitsAll})
	if err != nil {
		return err
	}
	type position struct {
		Position int       `json:"position"`
		ID       int       `json:"id"`
		Top      []idLogit `json:"top"`
	}
	res := struct {
		Model      string     `json:"model"`
		Positions  []position `json:"positions"`
		LastHidden []float32  `json:"last_hidden"`
	}{Model: *model, LastHidden: out.LastHidden(0)}
	for p, id := range ids {
		res.Positions = append(res.Positions, position{p, id, topK(out.LogitsRow(p), *top)})
	}
	enc := json.NewEncoder(stdout)
	return enc.Encode(res)
}
