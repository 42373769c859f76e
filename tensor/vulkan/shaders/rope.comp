#version 450
// Rotary embedding in HF's rotate-half convention, in place: for each row t
// (stride rowStride) and head h, pairs (i, i+half) rotate by the angle whose
// cos/sin are in tab[t*half + i] and tab[sinOff + t*half + i].
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer XB { float x[]; };
layout(std430, binding = 1) readonly buffer TB { float tab[]; };
layout(push_constant) uniform P { uint T, heads, hd, rowStride, xOff, sinOff; } p;

void main() {
    uint half_ = p.hd / 2;
    uint g = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * gl_NumWorkGroups.x * 64;
    if (g >= p.T * p.heads * half_) return;
    uint i = g % half_, h = (g / half_) % p.heads, t = g / (half_ * p.heads);
    uint a = p.xOff + t * p.rowStride + h * p.hd + i;
    float c = tab[t * half_ + i], s = tab[p.sinOff + t * half_ + i];
    float ai = x[a], bi = x[a + half_];
    x[a] = ai * c - bi * s;
    x[a + half_] = bi * c + ai * s;
}
