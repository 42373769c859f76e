#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_arithmetic : require
// y[t, n] = Σ_k x[t, k]·W[n, k] for up to 8 rows t (decode and small
// batches). A workgroup owns p.cols consecutive output columns n; each subgroup
// takes columns in turn, its lanes stride over k and subgroupAdd reduces, so
// there is no shared memory and no barrier (workgroup barriers are costly on
// CPU drivers such as lavapipe). Each weight is read once for all rows t.
// flags: 1 = accumulate into y, 2 = add bias[n].
layout(local_size_x = 64) in;
#include "weights.glsl"
layout(std430, binding = 1) readonly buffer XB { float x[]; };
layout(std430, binding = 2) buffer YB { float y[]; };
layout(std430, binding = 3) readonly buffer BB { float bias[]; };
layout(push_constant) uniform P { uint N, K, M, wOff, xOff, yOff, bOff, flags, yStride, cols; } p;

const uint R = 8;    // rows t per dispatch z-slice

void main() {
    uint wg = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    uint t0 = gl_WorkGroupID.z * R;
    uint mt = min(R, p.M - t0);
    uint lane = gl_SubgroupInvocationID, width = gl_SubgroupSize;
    for (uint c = gl_SubgroupID; c < p.cols; c += gl_NumSubgroups) {
        uint n = wg * p.cols + c;
        if (n >= p.N) break;
        float acc[R];
        for (uint t = 0; t < R; t++) acc[t] = 0.0;
        uint wb = p.wOff + n * p.K;
        uint xb = p.xOff + t0 * p.K;
        if (mt == 1u) {
            for (uint k = lane; k < p.K; k += width) acc[0] += wload(wb + k) * x[xb + k];
        } else {
            for (uint k = lane; k < p.K; k += width) {
                float wv = wload(wb + k);
                for (uint t = 0; t < R; t++) {
                    if (t < mt) acc[t] += wv * x[xb + t * p.K + k];
                }
            }
        }
        for (uint t = 0; t < R; t++) {
            if (t < mt) {
                float v = subgroupAdd(acc[t]);
                if (subgroupElect()) {
                    if ((p.flags & 2u) != 0u) v += bias[p.bOff + n];
                    uint i = p.yOff + (t0 + t) * p.yStride + n;
                    if ((p.flags & 1u) != 0u) v = y[i] + v;
                    y[i] = v;
                }
            }
        }
    }
}
