#version 450
// dst[dOff + i] = src[sOff + i] for i < n (float words).
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer SB { float src[]; };
layout(std430, binding = 1) buffer DB { float dst[]; };
layout(push_constant) uniform P { uint n, sOff, dOff; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64;
    if (i >= p.n) return;
    dst[p.dOff + i] = src[p.sOff + i];
}
