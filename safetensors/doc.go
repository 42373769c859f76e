// Package safetensors reads (and, for tests and tools, writes) Hugging Face
// safetensors checkpoints: single files, sharded checkpoints described by a
// model.safetensors.index.json, or a directory of *.safetensors files.
//
// The package owns the file format and nothing else: parsing and validating the
// header, memory-mapping files read-only, bounds-checked tensor views into the
// mapping (zero-copy where alignment allows), small upcasts to float32, and the
// sharding index. It is a leaf: it imports only the standard library and
// golang.org/x/sys/unix, and knows nothing about models, tensor math or the Hub.
//
// # Format
//
// A file is an 8-byte little-endian unsigned header length N, N bytes of UTF-8
// JSON, then the data buffer:
//
//	{"__metadata__": {"format": "pt"},
//	 "name": {"dtype": "BF16", "shape": [2, 3], "data_offsets": [0, 12]}, ...}
//
// data_offsets are [begin, end) relative to the start of the data buffer (byte
// 8+N). Tensors may be stored in any order.
//
// # Validation
//
// Every malformed input yields an *Error naming the file and the problem (and the
// tensor where relevant) that wraps one of the Err* sentinels, so callers can test
// with errors.Is. Parsing never panics and never allocates more than a small
// multiple of the header size (which is capped at MaxHeaderSize).
//
// The checks are those of the reference Rust implementation with one deliberate
// relaxation: the reference requires the tensors to cover the data buffer
// exactly, back to back, up to the end of the file; this reader allows holes
// (padding between or after tensors) but never overlapping tensors.
//
// # Lifetime
//
// Tensor.Data, and the slices returned by zero-copy views, alias the file's
// memory mapping. They are read-only (writing to them faults) and become invalid
// once the File or Checkpoint is closed.
package safetensors
