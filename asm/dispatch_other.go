//go:build (!amd64 && !arm64) || purego

package asm

func archLevels() []*impl { return nil }
