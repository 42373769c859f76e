#version 450
#extension GL_GOOGLE_include_directive : require
// y[t, n] = Σ_k x[t, k]·W[n, k] for up to 8 rows t per workgroup (decode and
// small batches): one workgroup per output column n reads each weight once
// for all its rows. flags: 1 = accumulate into y, 2 = add bias[n].
layout(local_size_x = 64) in;
#include "weights.glsl"
layout(std430, binding = 1) readonly buffer XB { float x[]; };
layout(std430, binding = 2) buffer YB { float y[]; };
layout(std430, binding = 3) readonly buffer BB { float bias[]; };
layout(push_constant) uniform P { uint N, K, M, wOff, xOff, yOff, bOff, flags, yStride; } p;

const uint R = 8;
shared float red[R][64];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint n = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint t0 = gl_WorkGroupID.z * R;
    uint mt = min(R, p.M - t0);
    float acc[R];
    for (uint t = 0; t < R; t++) acc[t] = 0.0;
    if (n < p.N) {
        uint wb = p.wOff + n * p.K;
        uint xb = p.xOff + t0 * p.K;
        for (uint k = lid; k < p.K; k += 64) {
            float wv = wload(wb + k);
            for (uint t = 0; t < R; t++) {
                if (t < mt) acc[t] += wv * x[xb + t * p.K + k];
            }
        }
    }
    for (uint t = 0; t < R; t++) red[t][lid] = acc[t];
    barrier();
    for (uint s = 32; s > 0; s >>= 1) {
        if (lid < s) {
            for (uint t = 0; t < R; t++) red[t][lid] += red[t][lid + s];
        }
        barrier();
    }
    if (lid < mt && n < p.N) {
        uint t = lid;
        float v = red[t][0];
        if ((p.flags & 2u) != 0u) v += bias[p.bOff + n];
        uint i = p.yOff + (t0 + t) * p.yStride + n;
        if ((p.flags & 1u) != 0u) v = y[i] + v;
        y[i] = v;
    }
}
