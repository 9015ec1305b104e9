// SPDX-License-Identifier: Apache-2.0
// packed_matrix: pack -> unpack round trips over every format x granularity x scale type x
// planes x bias on edge shapes, the documented storage layout (checked by building a buffer by
// hand and wrapping it), create(), wrap(), copy and move.
#include <cstring>
#include <tuple>

#include "test_util.hpp"

namespace {

using namespace ternary_test;

const std::vector<Gran>& kGrans = all_grans();
const std::vector<format>& kFormats = all_formats();

int64_t align64(int64_t x) { return (x + 63) / 64 * 64; }

// Section offsets of the storage buffer as packed_matrix.hpp documents them: plane 0 weights,
// plane 0 scales, [plane 1 weights, plane 1 scales,] [bias], each section 64-byte aligned.
struct Layout {
  int64_t weights[2] = {-1, -1};
  int64_t scales[2] = {-1, -1};
  int64_t bias = -1;
  int64_t end = 0;  // end of the last section (before any final padding)
};
Layout expected_layout(const matrix_desc& d) {
  Layout l;
  const int64_t wbytes = d.rows * ternary::row_bytes(d.fmt, d.cols);
  const int64_t sbytes = expected_scale_count(d) * (d.scale_dtype == scale_type::f16 ? 2 : 4);
  int64_t off = 0;
  for (int p = 0; p < d.planes; ++p) {
    l.weights[p] = off;
    off = align64(off + wbytes);
    l.scales[p] = off;
    l.end = off + sbytes;
    off = align64(l.end);
  }
  if (d.has_bias) {
    l.bias = off;
    l.end = off + 4 * d.rows;
  }
  return l;
}

// Checks everything observable about a matrix packed from case c.
void check_matches_case(const packed_matrix& m, const TritCase& c) {
  const matrix_desc& d = c.d;
  const std::string what = describe(d);
  SCOPED_TRACE(what);
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m.rows(), d.rows);
  EXPECT_EQ(m.cols(), d.cols);
  EXPECT_EQ(m.fmt(), d.fmt);
  EXPECT_EQ(m.planes(), d.planes);
  EXPECT_EQ(m.scale_count(), expected_scale_count(d));
  EXPECT_EQ(m.desc().fmt, d.fmt);
  EXPECT_EQ(m.desc().rows, d.rows);
  EXPECT_EQ(m.desc().cols, d.cols);
  EXPECT_EQ(m.desc().granularity, d.granularity);
  EXPECT_EQ(m.desc().group_size, d.group_size);
  EXPECT_EQ(m.desc().scale_dtype, d.scale_dtype);
  EXPECT_EQ(m.desc().planes, d.planes);
  EXPECT_EQ(m.desc().has_bias, d.has_bias);

  const ternary::matrix_view& v = m.view();
  const int64_t padded = ternary::padded_cols(d.fmt, d.cols);
  const int64_t rb = ternary::row_bytes(d.fmt, d.cols);
  EXPECT_EQ(v.fmt, d.fmt);
  EXPECT_EQ(v.granularity, d.granularity);
  EXPECT_EQ(v.scale_dtype, d.scale_dtype);
  EXPECT_EQ(v.planes, d.planes);
  EXPECT_EQ(v.rows, d.rows);
  EXPECT_EQ(v.cols, d.cols);
  EXPECT_EQ(v.padded_cols, padded);
  EXPECT_EQ(v.row_bytes, rb);
  EXPECT_EQ(v.group_size, d.granularity == scale_granularity::per_group ? d.group_size : padded);
  EXPECT_EQ(v.groups_per_row, expected_groups_per_row(d));
  EXPECT_EQ(v.bias != nullptr, d.has_bias);
  EXPECT_EQ(m.weight_bytes(), static_cast<size_t>(rb * d.rows * d.planes));

  // Storage: size agrees with storage_size(), sections sit where the layout says.
  size_t expect_bytes = 0;
  ASSERT_EQ(ternary::storage_size(d, &expect_bytes), status::ok);
  EXPECT_EQ(m.storage_bytes(), expect_bytes);
  const Layout l = expected_layout(d);
  EXPECT_TRUE(static_cast<int64_t>(expect_bytes) == l.end ||
              static_cast<int64_t>(expect_bytes) == align64(l.end))
      << "storage_size " << expect_bytes << " vs layout end " << l.end;
  const auto* base = static_cast<const uint8_t*>(m.storage());
  ASSERT_NE(base, nullptr);
  for (int p = 0; p < d.planes; ++p) {
    EXPECT_EQ(v.weights[p], base + l.weights[p]) << "plane " << p;
    EXPECT_EQ(static_cast<const uint8_t*>(v.scales[p]), base + l.scales[p]) << "plane " << p;
  }
  if (d.planes == 1) {
    EXPECT_EQ(v.weights[1], nullptr);
    EXPECT_EQ(v.scales[1], nullptr);
  }
  if (d.has_bias) {
    EXPECT_EQ(reinterpret_cast<const uint8_t*>(v.bias), base + l.bias);
  }

  for (int p = 0; p < d.planes; ++p) {
    // The view itself decodes to the trits; padding (bits2/base3) decodes to 0.
    for (int64_t r = 0; r < d.rows; ++r) {
      for (int64_t k = 0; k < d.cols; ++k) {
        ASSERT_EQ(ternary::trit_at(v, p, r, k), c.trit(p, r, k))
            << "view plane " << p << " row " << r << " col " << k;
      }
      if (d.fmt != format::sherry) {
        for (int64_t k = d.cols; k < padded; ++k) {
          ASSERT_EQ(ternary::trit_at(v, p, r, k), 0)
              << "padding plane " << p << " row " << r << " col " << k;
        }
      } else if (d.cols % 4 != 0) {
        // docs/FORMATS.md: in a quad cut by K, padding supplies the zero if the real columns
        // hold none, and +1 otherwise.
        const int64_t q0 = d.cols / 4 * 4;
        bool real_zero = false;
        for (int64_t k = q0; k < d.cols; ++k) real_zero = real_zero || c.trit(p, r, k) == 0;
        int pad_zeros = 0;
        for (int64_t k = d.cols; k < q0 + 4; ++k) {
          const int t = ternary::trit_at(v, p, r, k);
          ASSERT_TRUE(t == 0 || t == 1)
              << "sherry padding plane " << p << " row " << r << " col " << k;
          pad_zeros += t == 0;
        }
        ASSERT_EQ(pad_zeros, real_zero ? 0 : 1) << "sherry cut quad, plane " << p << " row " << r;
      }
    }
    // unpack_trits writes exactly K columns per row, leaving the ld gap alone.
    const int64_t ld = d.cols + 5;
    std::vector<int8_t> out(static_cast<size_t>(d.rows * ld + 7), int8_t{0x7b});
    ASSERT_EQ(m.unpack_trits(p, out.data(), ld), status::ok) << ternary::last_error_message();
    for (int64_t r = 0; r < d.rows; ++r) {
      for (int64_t k = 0; k < ld; ++k) {
        const int8_t got = out[static_cast<size_t>(r * ld + k)];
        if (k < d.cols) {
          ASSERT_EQ(got, c.trit(p, r, k)) << "unpack plane " << p << " row " << r << " col " << k;
        } else {
          ASSERT_EQ(got, 0x7b) << "unpack wrote the ld gap: plane " << p << " row " << r << " col "
                               << k;
        }
      }
    }
    for (size_t i = static_cast<size_t>(d.rows * ld); i < out.size(); ++i) ASSERT_EQ(out[i], 0x7b);

    // Scales come back as stored (fp16-rounded for f16), nothing past scale_count() is written.
    const int64_t ns = expected_scale_count(d);
    std::vector<float> sc(static_cast<size_t>(ns + 3), -777.0f);
    ASSERT_EQ(m.unpack_scales(p, sc.data()), status::ok) << ternary::last_error_message();
    for (int64_t i = 0; i < ns; ++i) {
      const float want = stored_scale(c.scales[p][static_cast<size_t>(i)], d.scale_dtype);
      ASSERT_TRUE(same_bits(sc[static_cast<size_t>(i)], want))
          << "plane " << p << " scale " << i << ": " << sc[static_cast<size_t>(i)] << " vs "
          << want;
    }
    for (int64_t i = ns; i < ns + 3; ++i) ASSERT_EQ(sc[static_cast<size_t>(i)], -777.0f);
    for (int64_t r = 0; r < d.rows; ++r) {
      for (int64_t g = 0; g < expected_groups_per_row(d); ++g) {
        ASSERT_EQ(ternary::scale_at(v, p, r, g),
                  c.scale(p, r, g * (d.group_size ? d.group_size : 1)))
            << "scale_at plane " << p << " row " << r << " group " << g;
      }
    }
  }
  if (d.has_bias) {
    for (int64_t r = 0; r < d.rows; ++r) ASSERT_EQ(v.bias[r], c.bias[static_cast<size_t>(r)]);
  }

  // dequantize: W-hat summed over planes (bias is not part of W-hat), ld gap untouched.
  const int64_t ld = d.cols + 2;
  std::vector<float> w(static_cast<size_t>(d.rows * ld), -555.0f);
  ASSERT_EQ(m.dequantize(w.data(), ld), status::ok) << ternary::last_error_message();
  for (int64_t r = 0; r < d.rows; ++r) {
    for (int64_t k = 0; k < ld; ++k) {
      const float got = w[static_cast<size_t>(r * ld + k)];
      if (k >= d.cols) {
        ASSERT_EQ(got, -555.0f) << "dequantize wrote the ld gap at row " << r << " col " << k;
        continue;
      }
      float want = static_cast<float>(c.trit(0, r, k)) * c.scale(0, r, k);
      if (d.planes == 2) want += static_cast<float>(c.trit(1, r, k)) * c.scale(1, r, k);
      ASSERT_EQ(got, want) << "dequantize row " << r << " col " << k;
    }
  }
}

class PackRoundTrip : public testing::TestWithParam<std::tuple<format, Gran>> {};

TEST_P(PackRoundTrip, EdgeShapesAllOptions) {
  const format f = std::get<0>(GetParam());
  const Gran gr = std::get<1>(GetParam());
  Rng rng(1000 + static_cast<uint64_t>(f) * 10 + static_cast<uint64_t>(gr.group_size));
  const int64_t ks[] = {1, 3, 63, 64, 65, 255, 256, 257, 319, 320, 321, 1000};
  const int64_t ns[] = {1, 5};
  for (scale_type st : {scale_type::f32, scale_type::f16}) {
    for (int planes : {1, 2}) {
      for (bool bias : {false, true}) {
        for (int64_t k : ks) {
          for (int64_t n : ns) {
            const matrix_desc d = make_desc(f, n, k, gr.g, gr.group_size, st, planes, bias);
            const TritCase c = make_case(rng, d, /*ld_extra=*/(k % 3) + 1);
            packed_matrix m;
            ASSERT_EQ(pack_case(c, &m), status::ok)
                << describe(d) << ": " << ternary::last_error_message();
            check_matches_case(m, c);
            if (testing::Test::HasFatalFailure()) return;
          }
        }
      }
    }
  }
}

TEST_P(PackRoundTrip, TightLeadingDimensionAndSinglePlaneOverload) {
  const format f = std::get<0>(GetParam());
  const Gran gr = std::get<1>(GetParam());
  Rng rng(2000 + static_cast<uint64_t>(f));
  for (int64_t k : {int64_t{70}, int64_t{333}}) {
    const matrix_desc d = make_desc(f, 4, k, gr.g, gr.group_size, scale_type::f32, 1, true);
    TritCase c = make_case(rng, d, 0);
    ASSERT_EQ(c.ld, k);
    packed_matrix m;
    ASSERT_EQ(
        packed_matrix::pack(d, c.trits[0].data(), c.ld, c.scales[0].data(), c.bias.data(), &m),
        status::ok)
        << ternary::last_error_message();
    check_matches_case(m, c);
  }
}

INSTANTIATE_TEST_SUITE_P(All, PackRoundTrip,
                         testing::Combine(testing::ValuesIn(kFormats), testing::ValuesIn(kGrans)),
                         [](const testing::TestParamInfo<std::tuple<format, Gran>>& info) {
                           return std::string(ternary::format_name(std::get<0>(info.param))) + "_" +
                                  gran_label(std::get<1>(info.param));
                         });

TEST(PackedMatrix, PackReplacesPreviousContentsOfOut) {
  Rng rng(3);
  const TritCase a = make_case(rng, make_desc(format::base3, 7, 500, scale_granularity::per_group,
                                              128, scale_type::f16, 2, true));
  const TritCase b = make_case(rng, make_desc(format::bits2, 3, 20, scale_granularity::per_row));
  packed_matrix m;
  ASSERT_EQ(pack_case(a, &m), status::ok);
  ASSERT_EQ(pack_case(b, &m), status::ok);
  check_matches_case(m, b);
}

TEST(PackedMatrix, SherryCutQuadAcceptsZeroOrOneZeroAmongRealColumns) {
  // K = 4q + r for r = 1..3: the real part of the last quad may be all signs or hold one zero.
  Rng rng(4);
  for (int64_t k : {int64_t{1}, int64_t{2}, int64_t{3}, int64_t{5}, int64_t{258}, int64_t{259}}) {
    for (int zero_lane = -1; zero_lane < static_cast<int>(k % 4); ++zero_lane) {
      const matrix_desc d = make_desc(format::sherry, 2, k, scale_granularity::per_row);
      TritCase c = make_case(rng, d);
      const int64_t q0 = k / 4 * 4;
      for (int64_t r = 0; r < d.rows; ++r) {
        for (int64_t lane = 0; q0 + lane < k; ++lane) {
          c.trits[0][static_cast<size_t>(r * c.ld + q0 + lane)] = lane == zero_lane ? 0 : -1;
        }
      }
      packed_matrix m;
      ASSERT_EQ(pack_case(c, &m), status::ok)
          << "K " << k << " zero lane " << zero_lane << ": " << ternary::last_error_message();
      check_matches_case(m, c);
    }
  }
}

TEST(PackedMatrix, CreateIsZeroedAndWritableThroughMutableAccessors) {
  Rng rng(5);
  for (format f : kFormats) {
    for (const Gran& gr : kGrans) {
      const matrix_desc d = make_desc(f, 3, 259, gr.g, gr.group_size, scale_type::f16, 2, true);
      SCOPED_TRACE(describe(d));
      packed_matrix m;
      ASSERT_EQ(packed_matrix::create(d, &m), status::ok) << ternary::last_error_message();
      EXPECT_TRUE(m.owns_storage());
      size_t bytes = 0;
      ASSERT_EQ(ternary::storage_size(d, &bytes), status::ok);
      EXPECT_EQ(m.storage_bytes(), bytes);
      EXPECT_EQ(m.check_values(), status::ok);
      for (int p = 0; p < 2; ++p) {
        std::vector<int8_t> t(static_cast<size_t>(3 * 259));
        ASSERT_EQ(m.unpack_trits(p, t.data(), 259), status::ok);
        for (int64_t i = 0; i < 3 * 259; ++i) {
          // Sherry has no all-zero quad: create() documents the pattern 0,+1,+1,+1.
          const int want = f == format::sherry ? ((i % 259) % 4 == 0 ? 0 : 1) : 0;
          ASSERT_EQ(t[static_cast<size_t>(i)], want) << "plane " << p << " index " << i;
        }
        std::vector<float> s(static_cast<size_t>(m.scale_count()), 1.0f);
        ASSERT_EQ(m.unpack_scales(p, s.data()), status::ok);
        for (float x : s) ASSERT_EQ(x, 0.0f);
        EXPECT_NE(m.mutable_weights(p), nullptr);
        EXPECT_NE(m.mutable_scales(p), nullptr);
      }
      ASSERT_NE(m.mutable_bias(), nullptr);
      for (int64_t r = 0; r < 3; ++r) ASSERT_EQ(m.view().bias[r], 0.0f);

      // Fill plane 1 by hand through the mutable accessors, as an importer would.
      TritCase c = make_case(rng, d, 0);
      for (int p = 0; p < 2; ++p) {
        const int64_t bt = ternary::block_trits(f), bb = ternary::block_bytes(f);
        const int64_t rb = ternary::row_bytes(f, d.cols);
        for (int64_t r = 0; r < d.rows; ++r) {
          for (int64_t b = 0; b * bt < d.cols; ++b) {
            std::vector<int8_t> blk(static_cast<size_t>(bt), 0);
            for (int64_t i = 0; i < bt && b * bt + i < d.cols; ++i) {
              blk[static_cast<size_t>(i)] = c.trit(p, r, b * bt + i);
            }
            if (f == format::sherry) {  // padding: +1s, and the zero where a quad lacks one
              for (int64_t i = 0; i < bt; ++i) {
                if (b * bt + i >= d.cols) blk[static_cast<size_t>(i)] = 1;
              }
              for (int64_t q = 0; q < bt; q += 4) {
                int8_t* qd = &blk[static_cast<size_t>(q)];
                if (ternary::format_sherry::encode_quad(qd) < 0) qd[3] = 0;
              }
            }
            uint8_t* dst = m.mutable_weights(p) + r * rb + b * bb;
            if (f == format::bits2) ternary::format_bits2::encode_block(blk.data(), dst);
            if (f == format::base3) ternary::format_base3::encode_block(blk.data(), dst);
            if (f == format::sherry) {
              ASSERT_EQ(ternary::format_sherry::encode_block(blk.data(), dst), -1);
            }
          }
        }
        for (int64_t i = 0; i < m.scale_count(); ++i) {
          static_cast<uint16_t*>(m.mutable_scales(p))[i] =
              ternary::float_to_half(c.scales[p][static_cast<size_t>(i)]);
        }
      }
      for (int64_t r = 0; r < 3; ++r) m.mutable_bias()[r] = c.bias[static_cast<size_t>(r)];
      ASSERT_EQ(m.check_values(), status::ok);
      check_matches_case(m, c);
    }
  }
}

TEST(PackedMatrix, WrapOfAnotherMatrixStorageIsTheSameMatrixWithoutCopy) {
  Rng rng(6);
  for (format f : kFormats) {
    const matrix_desc d =
        make_desc(f, 9, 700, scale_granularity::per_group, 128, scale_type::f32, 2, true);
    const TritCase c = make_case(rng, d);
    packed_matrix m;
    ASSERT_EQ(pack_case(c, &m), status::ok);
    packed_matrix v;
    ASSERT_EQ(packed_matrix::wrap(d, m.storage(), m.storage_bytes(), &v), status::ok)
        << ternary::last_error_message();
    EXPECT_FALSE(v.owns_storage());
    EXPECT_EQ(v.storage(), m.storage());
    EXPECT_EQ(v.storage_bytes(), m.storage_bytes());
    EXPECT_EQ(v.view().weights[0], m.view().weights[0]);
    EXPECT_EQ(v.view().weights[1], m.view().weights[1]);
    EXPECT_EQ(v.view().scales[1], m.view().scales[1]);
    EXPECT_EQ(v.view().bias, m.view().bias);
    EXPECT_EQ(v.mutable_weights(0), nullptr);
    EXPECT_EQ(v.mutable_scales(0), nullptr);
    EXPECT_EQ(v.mutable_bias(), nullptr);
    check_matches_case(v, c);
    // A bigger buffer is fine too (e.g. a mapped file rounded to pages).
    std::vector<uint8_t> big(m.storage_bytes() + 4096 + 64);
    void* p = big.data();
    size_t space = big.size();
    std::align(64, m.storage_bytes(), p, space);
    std::memcpy(p, m.storage(), m.storage_bytes());
    packed_matrix v2;
    ASSERT_EQ(packed_matrix::wrap(d, p, m.storage_bytes() + 4096, &v2), status::ok)
        << ternary::last_error_message();
    check_matches_case(v2, c);
  }
}

TEST(PackedMatrix, WrapOfHandBuiltBufferFollowsTheDocumentedLayout) {
  // Build the storage bytes ourselves, from the format encoders and the documented section
  // order, then wrap: the library must read back the same matrix.
  Rng rng(7);
  for (format f : kFormats) {
    for (scale_type st : {scale_type::f32, scale_type::f16}) {
      const matrix_desc d = make_desc(f, 5, 300, scale_granularity::per_group, 64, st, 2, true);
      SCOPED_TRACE(describe(d));
      TritCase c = make_case(rng, d, 0);
      size_t bytes = 0;
      ASSERT_EQ(ternary::storage_size(d, &bytes), status::ok);
      const Layout l = expected_layout(d);
      ASSERT_GE(static_cast<int64_t>(bytes), l.end);
      OffsetBuffer<uint8_t> buf(bytes, 0, 0);
      const int64_t bt = ternary::block_trits(f), bb = ternary::block_bytes(f);
      const int64_t rb = ternary::row_bytes(f, d.cols);
      for (int p = 0; p < 2; ++p) {
        for (int64_t r = 0; r < d.rows; ++r) {
          for (int64_t b = 0; b * bt < d.cols; ++b) {
            std::vector<int8_t> blk(static_cast<size_t>(bt), 0);
            for (int64_t i = 0; i < bt; ++i) {
              const int64_t k = b * bt + i;
              // Padding: zero for bits2/base3; for Sherry +1s, completed to one zero below.
              blk[static_cast<size_t>(i)] = k < d.cols            ? c.trit(p, r, k)
                                            : f == format::sherry ? int8_t{1}
                                                                  : int8_t{0};
            }
            if (f == format::sherry) {
              for (int64_t q = 0; q < bt; q += 4) {
                int8_t* qd = &blk[static_cast<size_t>(q)];
                if (ternary::format_sherry::encode_quad(qd) < 0) qd[3] = 0;
              }
            }
            uint8_t* dst = buf.data() + l.weights[p] + r * rb + b * bb;
            if (f == format::bits2) ternary::format_bits2::encode_block(blk.data(), dst);
            if (f == format::base3) ternary::format_base3::encode_block(blk.data(), dst);
            if (f == format::sherry) {
              ASSERT_EQ(ternary::format_sherry::encode_block(blk.data(), dst), -1);
            }
          }
        }
        for (int64_t i = 0; i < expected_scale_count(d); ++i) {
          const float s = c.scales[p][static_cast<size_t>(i)];
          if (st == scale_type::f16) {
            const uint16_t h = ternary::float_to_half(s);
            std::memcpy(buf.data() + l.scales[p] + 2 * i, &h, 2);
          } else {
            std::memcpy(buf.data() + l.scales[p] + 4 * i, &s, 4);
          }
        }
      }
      std::memcpy(buf.data() + l.bias, c.bias.data(), 4 * static_cast<size_t>(d.rows));
      packed_matrix v;
      ASSERT_EQ(packed_matrix::wrap(d, buf.data(), bytes, &v), status::ok)
          << ternary::last_error_message();
      check_matches_case(v, c);
      // The packer produces the same bytes in every section.
      packed_matrix m;
      ASSERT_EQ(pack_case(c, &m), status::ok);
      const auto* mb = static_cast<const uint8_t*>(m.storage());
      for (int p = 0; p < 2; ++p) {
        if (f != format::sherry) {  // Sherry padding lanes are the packer's choice
          EXPECT_EQ(std::memcmp(mb + l.weights[p], buf.data() + l.weights[p],
                                static_cast<size_t>(rb * d.rows)),
                    0)
              << "plane " << p << " weights differ from the hand-packed bytes";
        }
        EXPECT_EQ(std::memcmp(mb + l.scales[p], buf.data() + l.scales[p],
                              static_cast<size_t>(expected_scale_count(d)) *
                                  (st == scale_type::f16 ? 2 : 4)),
                  0)
            << "plane " << p << " scales differ";
      }
    }
  }
}

TEST(PackedMatrix, CopyIsDeepAndMoveTransfersStorage) {
  Rng rng(8);
  const matrix_desc d =
      make_desc(format::sherry, 6, 300, scale_granularity::per_row, 0, scale_type::f16, 2, true);
  const TritCase c = make_case(rng, d);
  auto m = std::make_unique<packed_matrix>();
  ASSERT_EQ(pack_case(c, m.get()), status::ok);

  packed_matrix copy(*m);
  EXPECT_TRUE(copy.owns_storage());
  EXPECT_NE(copy.storage(), m->storage());
  ASSERT_EQ(copy.storage_bytes(), m->storage_bytes());
  EXPECT_EQ(std::memcmp(copy.storage(), m->storage(), m->storage_bytes()), 0);
  // The copy's view points into its own storage.
  const auto* cb = static_cast<const uint8_t*>(copy.storage());
  EXPECT_GE(copy.view().weights[1], cb);
  EXPECT_LT(copy.view().weights[1], cb + copy.storage_bytes());
  EXPECT_GE(reinterpret_cast<const uint8_t*>(copy.view().bias), cb);

  packed_matrix assigned;
  const TritCase other =
      make_case(rng, make_desc(format::bits2, 2, 10, scale_granularity::per_row));
  ASSERT_EQ(pack_case(other, &assigned), status::ok);
  assigned = *m;
  EXPECT_NE(assigned.storage(), m->storage());

  const void* original_storage = m->storage();
  packed_matrix moved(std::move(*m));
  EXPECT_EQ(moved.storage(), original_storage) << "move constructor copied the storage";
  EXPECT_TRUE(m->empty()) << "a moved-from matrix should be empty";
  m.reset();  // the source is gone: copies and moved-to matrices stand alone

  check_matches_case(copy, c);
  check_matches_case(assigned, c);
  check_matches_case(moved, c);

  packed_matrix move_assigned;
  ASSERT_EQ(pack_case(other, &move_assigned), status::ok);
  const void* s2 = moved.storage();
  move_assigned = std::move(moved);
  EXPECT_EQ(move_assigned.storage(), s2);
  check_matches_case(move_assigned, c);

  // Self-assignment keeps the matrix intact.
  packed_matrix& self = copy;
  copy = self;
  check_matches_case(copy, c);

  // Copies of empty matrices and of views.
  const packed_matrix empty_source;
  packed_matrix empty_copy(empty_source);
  EXPECT_TRUE(empty_copy.empty());
  packed_matrix empty_assigned = copy;
  empty_assigned = empty_source;
  EXPECT_TRUE(empty_assigned.empty());
  packed_matrix view;
  ASSERT_EQ(packed_matrix::wrap(d, copy.storage(), copy.storage_bytes(), &view), status::ok);
  packed_matrix view_copy(view);
  check_matches_case(view_copy, c);
}

TEST(PackedMatrix, StorageSizeMatchesLayoutForManyDescriptions) {
  for (format f : kFormats) {
    for (const Gran& gr : kGrans) {
      for (scale_type st : {scale_type::f32, scale_type::f16}) {
        for (int planes : {1, 2}) {
          for (bool bias : {false, true}) {
            for (int64_t n : {int64_t{1}, int64_t{3}, int64_t{17}, int64_t{4096}}) {
              for (int64_t k : {int64_t{1}, int64_t{257}, int64_t{4096}, int64_t{11008}}) {
                const matrix_desc d = make_desc(f, n, k, gr.g, gr.group_size, st, planes, bias);
                ASSERT_EQ(ternary::validate(d), status::ok) << describe(d);
                size_t bytes = 0;
                ASSERT_EQ(ternary::storage_size(d, &bytes), status::ok) << describe(d);
                const Layout l = expected_layout(d);
                EXPECT_TRUE(static_cast<int64_t>(bytes) == l.end ||
                            static_cast<int64_t>(bytes) == align64(l.end))
                    << describe(d) << ": storage_size " << bytes << ", layout end " << l.end;
              }
            }
          }
        }
      }
    }
  }
}

TEST(PackedMatrix, DefaultConstructedIsEmpty) {
  packed_matrix m;
  EXPECT_TRUE(m.empty());
  EXPECT_FALSE(m.owns_storage());
  EXPECT_EQ(m.rows(), 0);
  EXPECT_EQ(m.weight_bytes(), 0u);
  EXPECT_EQ(m.storage_bytes(), 0u);
}

}  // namespace
