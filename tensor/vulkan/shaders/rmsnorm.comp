#version 450
// y[r] = x[r] / sqrt(mean(x[r]²) + eps) · w for rows r of width D (one
// workgroup per row; y may be x).
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer XB { float x[]; };
layout(std430, binding = 1) buffer YB { float y[]; };
layout(std430, binding = 2) readonly buffer WB { float w[]; };
layout(push_constant) uniform P { uint rows, D, xOff, yOff, wOff, eps; } p;

shared float red[64];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (r >= p.rows) return; // uniform per workgroup
    uint xb = p.xOff + r * p.D, yb = p.yOff + r * p.D;
    float ss = 0.0;
    for (uint i = lid; i < p.D; i += 64) { float v = x[xb + i]; ss += v * v; }
    red[lid] = ss;
    barrier();
    for (uint s = 32; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier();
    }
    float inv = 1.0 / sqrt(red[0] / float(p.D) + uintBitsToFloat(p.eps));
    for (uint i = lid; i < p.D; i += 64) y[yb + i] = w[p.wOff + i] * (x[xb + i] * inv);
}
