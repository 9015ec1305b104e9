// SPDX-License-Identifier: Apache-2.0
// CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), the checksum of zlib and PNG, so
// containers can be checked with standard tools. Slice-by-8 for ~several GB/s.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ternary {
namespace detail {

/// Continues a CRC: crc32(crc32(0, a), b) == crc32 of a followed by b.
uint32_t crc32(uint32_t crc, const void* data, size_t size) noexcept;

}  // namespace detail
}  // namespace ternary
