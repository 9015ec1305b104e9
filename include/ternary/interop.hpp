// SPDX-License-Identifier: Apache-2.0
/// \file
/// Lossless codecs between other projects' ternary weight layouts and `packed_matrix`
/// (target `ternary::io`). They work on raw byte buffers; reading and writing the files that
/// hold those buffers (GGUF, safetensors) is the job of the file readers and writers.
///
/// Foreign layouts (docs/INTEROP.md has every byte):
///   - tq2_0:     GGUF TQ2_0 (ggml): 66 bytes per 256 weights, 2-bit codes + one fp16 scale.
///   - tq1_0:     GGUF TQ1_0 (ggml): 54 bytes per 256 weights, base-3 codes + one fp16 scale.
///   - i2_s:      BitNet I2_S (bitnet.cpp, x86 128-element layout): 2-bit codes over the
///                flattened tensor + a 32-byte tail holding one fp32 per-tensor scale.
///   - hf_bitnet: Hugging Face BitNet packed `weight` (uint8 [ceil(out/4), in], four OUTPUT rows
///                per byte) + a scalar `weight_scale`.
///
/// Shapes follow the library: `rows` = N = outputs, `cols` = K = inputs. In GGUF terms
/// ne[0] = cols and ne[1] = rows; in Hugging Face terms rows = out_features, cols = in_features.
///
/// Import is exact: the packed matrix dequantizes to the values the foreign project decodes.
/// Export is lossless or refused: a matrix whose trits or scales the foreign layout cannot hold
/// exactly (two planes, a bias, scales that differ inside one foreign block, a scale that is not
/// representable in the foreign scale type, a K the layout does not allow) gets status::unsupported
/// and a message naming the row/block and the reason. check_export() answers the same question
/// without encoding anything.
///
/// Every function is noexcept and reports failures as a `status` with a message readable through
/// last_error_message(). Byte handling is endianness-neutral: multi-byte fields are read and
/// written little-endian, byte by byte, as the foreign formats define them.
///
/// Example (GGUF TQ2_0 tensor data -> packed matrix -> back):
/// \code
///   ternary::packed_matrix w;
///   ternary::interop::import_options opt;          // opt.target = format::bits2
///   if (ternary::interop::import_tq2_0(data, size, n, k, opt, &w) != ternary::status::ok)
///     std::fprintf(stderr, "%s\n", ternary::last_error_message());
///   std::vector<uint8_t> bytes;
///   ternary::interop::export_tq2_0(w, &bytes);     // the same bytes as `data`
/// \endcode
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "ternary/config.hpp"
#include "ternary/format/format.hpp"
#include "ternary/packed_matrix.hpp"
#include "ternary/status.hpp"

namespace ternary {
namespace interop {

/// Foreign ternary layouts. Values are stable.
enum class foreign_format : uint32_t {
  tq1_0 = 1,
  tq2_0 = 2,
  i2_s = 3,
  hf_bitnet = 4,
};

/// Stable lower-case names: "tq1_0", "tq2_0", "i2_s", "hf_bitnet"; "unknown" otherwise.
TERNARY_API const char* foreign_format_name(foreign_format f) noexcept;
/// Parses a name written by foreign_format_name() (exact, lower case); false when unknown or null.
TERNARY_API bool parse_foreign_format(const char* name, foreign_format* out) noexcept;

/// ggml's super-block: TQ1_0 and TQ2_0 encode 256 weights of one row per block (QK_K).
constexpr int64_t tq_block_weights = 256;
constexpr size_t tq1_0_block_bytes = 54;  ///< qs[48], qh[4], fp16 d
constexpr size_t tq2_0_block_bytes = 66;  ///< qs[64], fp16 d
/// I2_S: 128 weights per 32-byte block, then a 32-byte tail (fp32 scale in bytes 0..3).
constexpr int64_t i2_s_block_weights = 128;
constexpr size_t i2_s_block_bytes = 32;
constexpr size_t i2_s_tail_bytes = 32;

/// Byte size of the foreign encoding of a rows x cols matrix:
///   tq1_0 / tq2_0: rows * cols / 256 blocks (cols must be a multiple of 256);
///   i2_s:          ceil(rows * cols / 128) * 32 + 32 (equal to ggml's n/4 + 32 when
///                  rows * cols is a multiple of 128);
///   hf_bitnet:     ceil(rows / 4) * cols (the `weight` tensor; the scale is separate).
TERNARY_API status encoded_size(foreign_format f, int64_t rows, int64_t cols,
                                size_t* bytes) noexcept;

/// How imports build the packed matrix.
struct import_options {
  /// Packed format of the result. Sherry (3:4) is accepted only when every quad of 4 columns
  /// of the imported trits holds exactly one zero (quads cut by K: at most one zero); otherwise
  /// the import fails with status::invalid_trit naming the row and columns.
  format target = format::bits2;
};

// ---- GGUF TQ2_0 / TQ1_0 (ggml-common.h block_tq2_0 / block_tq1_0) ------------------------------

/// Imports `rows` rows of `cols / 256` TQ2_0 blocks each (`bytes` must be exactly
/// rows * cols / 256 * 66). Result: per_group scales with group_size 256 and scale dtype f16,
/// each block's fp16 `d` copied bit for bit. Code 3 (never written by ggml) is status::corrupt_data
/// naming the row, block and element; a non-finite `d` is status::invalid_scale.
TERNARY_API status import_tq2_0(const void* blocks, size_t bytes, int64_t rows, int64_t cols,
                                const import_options& opt, packed_matrix* out) noexcept;
/// Imports TQ1_0 blocks (54 bytes each), as import_tq2_0. A byte that no ggml encoding
/// ceil(v * 256 / 243), v <= 242, produces, or a qh byte whose fifth (padding) digit is not 0, is
/// status::corrupt_data naming the row, block and byte.
TERNARY_API status import_tq1_0(const void* blocks, size_t bytes, int64_t rows, int64_t cols,
                                const import_options& opt, packed_matrix* out) noexcept;

/// Encodes a single-plane matrix without bias as TQ2_0 (replacing *out). Needs cols % 256 == 0
/// and, for each 256-column block of each row, one scale exactly representable in fp16: per_group
/// 256 with f16 scales always qualifies; f32 scales must round-trip through fp16 bit for bit;
/// groups smaller or larger than 256 qualify when every group touching the block holds the same
/// scale. Otherwise status::unsupported naming the row and block.
TERNARY_API status export_tq2_0(const packed_matrix& m, std::vector<uint8_t>* out) noexcept;
/// Encodes as TQ1_0 (same conditions as export_tq2_0).
TERNARY_API status export_tq1_0(const packed_matrix& m, std::vector<uint8_t>* out) noexcept;

/// ggml's reference quantizers (quantize_row_tq2_0_ref / quantize_row_tq1_0_ref) on a dense
/// row-major rows x cols fp32 matrix (cols % 256 == 0): per 256-block d = max|x|,
/// t = lroundf(x * (1/d)) (ties away from zero), fp16 d stored round-to-nearest-even; an
/// all-zero block stores d = 0 and trits 0. The bytes equal ggml's. Refused (unlike ggml, which
/// would store garbage or an infinite scale): a NaN/Inf input (status::invalid_argument) and a
/// block whose max|x| rounds past the fp16 range (status::invalid_scale).
TERNARY_API status quantize_tq2_0(const float* x, int64_t rows, int64_t cols,
                                  std::vector<uint8_t>* out) noexcept;
TERNARY_API status quantize_tq1_0(const float* x, int64_t rows, int64_t cols,
                                  std::vector<uint8_t>* out) noexcept;

// ---- BitNet I2_S (bitnet.cpp, x86 layout) -------------------------------------------------------

/// Imports an I2_S tensor of rows x cols weights. The rows * cols weights, flattened row-major,
/// form 128-element blocks of 32 bytes (byte j holds elements j, 32+j, 64+j, 96+j in bits 7:6,
/// 5:4, 3:2, 1:0; code = t + 1); a last partial block is padded (its padding codes are ignored).
/// Then comes the 32-byte tail: bytes 0..3 are the fp32 scale (little-endian), bytes 4..31 are
/// ignored. `bytes` must equal encoded_size(i2_s, rows, cols). Result: per_tensor f32 scale in
/// the target format. Code 3 is status::corrupt_data naming the row and column; a non-finite
/// scale is status::invalid_scale.
TERNARY_API status import_i2_s(const void* data, size_t bytes, int64_t rows, int64_t cols,
                               const import_options& opt, packed_matrix* out) noexcept;
/// Encodes a single-plane matrix without bias as I2_S (replacing *out): one scale for the whole
/// matrix (per_tensor, or per_row/per_group with every scale bit-identical). Padding of a last
/// partial block is code 1 (t = 0), tail bytes 4..31 are zero.
TERNARY_API status export_i2_s(const packed_matrix& m, std::vector<uint8_t>* out) noexcept;

// ---- Hugging Face BitNet (transformers integrations/bitnet.py)
// -----------------------------------

/// Meaning of the stored `weight_scale` (transformers' BitNetQuantConfig.linear_class).
enum class hf_scale_convention : uint32_t {
  bitlinear = 1,      ///< BitLinear (default): weight_scale = 1 / alpha; W = t / weight_scale
  autobitlinear = 2,  ///< AutoBitLinear: weight_scale = alpha; W = t * weight_scale
};

/// Stable names "bitlinear" / "autobitlinear"; "unknown" otherwise.
TERNARY_API const char* hf_scale_convention_name(hf_scale_convention c) noexcept;
/// Parses a name written by hf_scale_convention_name(); false when unknown or null.
TERNARY_API bool parse_hf_scale_convention(const char* name, hf_scale_convention* out) noexcept;

/// Imports a packed `weight` of `out_features` x `in_features` weights: uint8, row-major
/// [ceil(out_features / 4), in_features]; bits 2i+1:2i of packed row r hold output row
/// i * ceil(out_features / 4) + r (code = t + 1; codes of rows >= out_features are padding and
/// ignored). `bytes` must equal encoded_size(hf_bitnet, out_features, in_features).
/// The per_tensor f32 scale is alpha = 1.0f / weight_scale (bitlinear; the fp32 value of
/// t / weight_scale that transformers computes) or weight_scale (autobitlinear). Code 3 is
/// status::corrupt_data; an alpha that is not finite (e.g. a bitlinear weight_scale of 0) is
/// status::invalid_scale.
TERNARY_API status import_hf_bitnet(const void* weight, size_t bytes, int64_t out_features,
                                    int64_t in_features, float weight_scale,
                                    hf_scale_convention convention, const import_options& opt,
                                    packed_matrix* out) noexcept;
/// Encodes a single-plane matrix without bias (one scale alpha for the whole matrix, as for
/// I2_S) as a packed `weight` (replacing *weight; padding rows of the last byte plane hold code
/// 0, as transformers' pack_weights leaves them) and the value to store as `weight_scale`.
/// bitlinear (default): weight_scale is an fp32 w with 1.0f / w == alpha whenever such a float
/// exists (the one with the fewest significant bits, so a bf16 weight_scale read from a
/// checkpoint comes back unchanged), else the nearest, 1.0f / alpha; *scale_exact (optional)
/// tells which. alpha = 0 has no inverse: status::unsupported (use autobitlinear).
/// autobitlinear: weight_scale = alpha, always exact.
TERNARY_API status export_hf_bitnet(const packed_matrix& m, std::vector<uint8_t>* weight,
                                    float* weight_scale,
                                    hf_scale_convention convention = hf_scale_convention::bitlinear,
                                    bool* scale_exact = nullptr) noexcept;

// ---- capability check
// ----------------------------------------------------------------------------

/// status::ok when export to `f` would succeed (hf_bitnet: in the bitlinear convention),
/// otherwise the status and message export would give (status::unsupported for a matrix the
/// layout cannot hold exactly, invalid_argument for an empty matrix or unknown format).
TERNARY_API status check_export(const packed_matrix& m, foreign_format f) noexcept;
/// Convenience form of check_export(): true when it returns ok; otherwise *why (optional)
/// receives the message.
TERNARY_API bool can_export(const packed_matrix& m, foreign_format f,
                            std::string* why = nullptr) noexcept;

}  // namespace interop
}  // namespace ternary
