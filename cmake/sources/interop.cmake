# SPDX-License-Identifier: Apache-2.0
# Sources of ternary::io: codecs between other projects' ternary layouts and packed_matrix.
set(TERNARY_INTEROP_SOURCES src/interop/common.cpp src/interop/ggml.cpp src/interop/bitnet.cpp)
