//go:build !vulkan

package main

const vulkanBuild = false
