// Package qwenvk runs model/qwen's forward pass on a Vulkan device through
// tensor/vulkan: the weights of a loaded qwen.Model are uploaded once (in
// their stored dtype), a layer's activations stay on the device, and only
// what the caller asked for comes back (logits, the final hidden state, KV
// rows for the host cache). Forward has qwen.Model.Forward's semantics, so
// it is a drop-in for callers that take a forward function.
//
// KV caches: the host qwen.Cache stays authoritative, so every cache
// operation (KeepLast, Gather, Clone, AppendKV, CPU forwards) keeps working
// unchanged. After each Vulkan forward the new keys and values are copied
// back into the host cache. The device keeps a mirror of each cache it has
// seen and reuses it while the host cache still looks the same (same
// length, same backing array, same first and last rows in every layer);
// otherwise it uploads the cache again. A host-side change that keeps all of
// those (for example rewriting middle positions in place) must be announced
// with Model.Invalidate.
//
// Without the vulkan build tag the package compiles to stubs: Open explains
// that the binary has no Vulkan support ("auto" falls back to the CPU) and
// New fails.
package qwenvk

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/latentmas/latentmas/tensor/vulkan"
)

// Open resolves a --device value:
//
//	"" or "cpu"    no device (nil, nil): run on the CPU
//	"vulkan"       the best Vulkan device, or an error
//	"vulkan:N"     device N as listed by `latentmas devices`, or an error
//	"auto"         the best Vulkan device if there is one; otherwise a
//	               one-line notice on notice and (nil, nil)
//
// Errors are one line and name the cause (no loader, no device, index out
// of range, binary built without Vulkan), for the CLI to print and exit
// non-zero.
func Open(spec string, notice io.Writer) (*vulkan.Device, error) {
	switch s := strings.ToLower(strings.TrimSpace(spec)); {
	case s == "" || s == "cpu":
		return nil, nil
	case s == "auto":
		d, err := vulkan.Open(-1)
		if err != nil {
			if notice != nil {
				fmt.Fprintf(notice, "latentmas: --device auto: %s; using the CPU\n", oneLine(err))
			}
			return nil, nil
		}
		if notice != nil {
			fmt.Fprintf(notice, "latentmas: --device auto: using %v\n", d.Info())
		}
		return d, nil
	case s == "vulkan":
		d, err := vulkan.Open(-1)
		return d, clean(err)
	case strings.HasPrefix(s, "vulkan:"):
		n, err := strconv.Atoi(s[len("vulkan:"):])
		if err != nil || n < 0 {
			return nil, fmt.Errorf("--device %q: want vulkan:N with N a device index (see latentmas devices)", spec)
		}
		d, err := vulkan.Open(n)
		return d, clean(err)
	default:
		return nil, fmt.Errorf("--device %q: want cpu, auto, vulkan or vulkan:N", spec)
	}
}

func clean(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(oneLine(err))
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}
