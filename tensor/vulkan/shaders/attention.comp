#version 450
// Causal grouped-query attention for one sequence: workgroup (t, h) handles
// query token t (of n new ones, cache positions past..past+n-1) and head h,
// attending to cache positions 0..past+t with KV head h/(H/KVH). Scores go
// to a scratch row; softmax is float32 with the maximum subtracted.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer QB { float q[]; };
layout(std430, binding = 1) readonly buffer KB { float kv[]; };
layout(std430, binding = 2) buffer OB { float o[]; };
layout(std430, binding = 3) buffer SB { float sc[]; };
layout(push_constant) uniform P { uint n, past, H, KVH, hd, qOff, oOff, kOff, vOff, sStride, scale; } p;

shared float qs[256];
shared float red[64];

void main() {
    uint lid = gl_LocalInvocationID.x;
    uint g = gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x;
    if (g >= p.n * p.H) return;
    uint t = g / p.H, h = g % p.H;
    uint kvh = h / (p.H / p.KVH);
    uint kvd = p.KVH * p.hd;
    uint ctx = p.past + t + 1;
    uint qb = p.qOff + (t * p.H + h) * p.hd;
    uint sb = g * p.sStride;
    float scale = uintBitsToFloat(p.scale);
    for (uint i = lid; i < p.hd; i += 64) qs[i] = q[qb + i];
    barrier();
    float mx = -1.0 / 0.0;
    for (uint j = lid; j < ctx; j += 64) {
        uint kb = p.kOff + j * kvd + kvh * p.hd;
        float d = 0.0;
        for (uint i = 0; i < p.hd; i++) d += qs[i] * kv[kb + i];
        d *= scale;
        sc[sb + j] = d;
        mx = max(mx, d);
    }
    red[lid] = mx;
    barrier();
    for (uint s = 32; s > 0; s >>= 1) {
        if (lid < s) red[lid] = max(red[lid], red[lid + s]);
        barrier();
    }
    mx = red[0];
    barrier();
    float sum = 0.0;
    for (uint j = lid; j < ctx; j += 64) {
        float e = exp(sc[sb + j] - mx);
        sc[sb + j] = e;
        sum += e;
    }
    red[lid] = sum;
    barrier();
    for (uint s = 32; s > 0; s >>= 1) {
        if (lid < s) red[lid] += red[lid + s];
        barrier();
    }
    float inv = 1.0 / red[0];
    memoryBarrierBuffer();
    barrier();
    uint ob = p.oOff + (t * p.H + h) * p.hd;
    for (uint i = lid; i < p.hd; i += 64) {
        float acc = 0.0;
        uint vb = p.vOff + kvh * p.hd + i;
        for (uint j = 0; j < ctx; j++) acc += (sc[sb + j] * inv) * kv[vb + j * kvd];
        o[ob + i] = acc;
    }
}
