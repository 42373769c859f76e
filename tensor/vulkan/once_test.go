//go:build vulkan

package vulkan

import "sync"

type onceT = sync.Once
