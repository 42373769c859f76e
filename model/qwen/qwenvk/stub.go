//go:build !vulkan

package qwenvk

import (
	"github.com/latentmas/latentmas/model/qwen"
	"github.com/latentmas/latentmas/tensor/vulkan"
)

// Model is the Vulkan model; without the vulkan build tag none can be made.
type Model struct{}

// New reports vulkan.ErrNotBuilt.
func New(m *qwen.Model, dev *vulkan.Device) (*Model, error) { return nil, vulkan.ErrNotBuilt }

// Forward reports vulkan.ErrNotBuilt.
func (vm *Model) Forward(seqs []qwen.Seq, req qwen.Request) (*qwen.Output, error) {
	return nil, vulkan.ErrNotBuilt
}

// Close does nothing.
func (vm *Model) Close() {}

// Invalidate does nothing.
func (vm *Model) Invalidate(c *qwen.Cache) {}
