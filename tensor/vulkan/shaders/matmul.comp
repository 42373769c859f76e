#version 450
#extension GL_GOOGLE_include_directive : require
// Tiled y[t, n] = Σ_k x[t, k]·W[n, k] for prefill: 16×16 output tiles,
// 16-wide K panels of x and W staged in shared memory. flags as in matvec.
layout(local_size_x = 16, local_size_y = 16) in;
#include "weights.glsl"
layout(std430, binding = 1) readonly buffer XB { float x[]; };
layout(std430, binding = 2) buffer YB { float y[]; };
layout(std430, binding = 3) readonly buffer BB { float bias[]; };
layout(push_constant) uniform P { uint N, K, M, wOff, xOff, yOff, bOff, flags, yStride; } p;

shared float xs[16][17];
shared float ws[16][17];

void main() {
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    uint n0 = gl_WorkGroupID.x * 16, t0 = gl_WorkGroupID.y * 16;
    float acc = 0.0;
    for (uint k0 = 0; k0 < p.K; k0 += 16) {
        uint k = k0 + lx;
        uint t = t0 + ly, n = n0 + ly;
        xs[ly][lx] = (t < p.M && k < p.K) ? x[p.xOff + t * p.K + k] : 0.0;
        ws[ly][lx] = (n < p.N && k < p.K) ? wload(p.wOff + n * p.K + k) : 0.0;
        barrier();
        for (uint kk = 0; kk < 16; kk++) acc += xs[ly][kk] * ws[lx][kk];
        barrier();
    }
    uint t = t0 + ly, n = n0 + lx;
    if (t < p.M && n < p.N) {
        float v = acc;
        if ((p.flags & 2u) != 0u) v += bias[p.bOff + n];
        uint i = p.yOff + t * p.yStride + n;
        if ((p.flags & 1u) != 0u) v = y[i] + v;
        y[i] = v;
    }
}
