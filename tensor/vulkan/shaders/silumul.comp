#version 450
// g[i] = silu(g[i]) · u[i], silu(v) = v / (1 + e^-v).
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer GB { float g[]; };
layout(std430, binding = 1) readonly buffer UB { float u[]; };
layout(push_constant) uniform P { uint n, gOff, uOff; } p;

void main() {
    uint i = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64;
    if (i >= p.n) return;
    float v = g[p.gOff + i];
    g[p.gOff + i] = v / (1.0 + exp(-v)) * u[p.uOff + i];
}
