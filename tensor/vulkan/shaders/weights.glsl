// Weight loads for the matrix kernels: binding 0 holds the weight matrix in
// its stored dtype, selected at compile time (W_F32, W_BF16 or W_F16).
// 16-bit weights are read as packed pairs from a uint array.
#if defined(W_F32)
layout(std430, binding = 0) readonly buffer WB { float w[]; };
float wload(uint i) { return w[i]; }
#elif defined(W_BF16)
layout(std430, binding = 0) readonly buffer WB { uint w[]; };
float wload(uint i) {
    uint v = w[i >> 1];
    return uintBitsToFloat((i & 1u) != 0u ? (v & 0xffff0000u) : (v << 16));
}
#elif defined(W_F16)
layout(std430, binding = 0) readonly buffer WB { uint w[]; };
float wload(uint i) {
    vec2 v = unpackHalf2x16(w[i >> 1]);
    return (i & 1u) != 0u ? v.y : v.x;
}
#else
#error "define W_F32, W_BF16 or W_F16"
#endif
